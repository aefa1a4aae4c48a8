//! The English word lists the guard reads. Small on purpose: each list names a way two
//! near-identical questions want different answers.

/// Symbols that change an answer.
pub(super) const SYMBOLS: &[char] = &['+', '-', '*', '/', '%', '$', '€', '£', '¥', '^', '=', '<', '>', '×', '÷'];

pub(super) fn number_word(w: &str) -> Option<f64> {
    const UNITS: [&str; 20] = [
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
        "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen",
    ];
    const TENS: [&str; 8] = ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"];
    if let Some(i) = UNITS.iter().position(|u| *u == w) {
        return Some(i as f64);
    }
    if let Some(i) = TENS.iter().position(|t| *t == w) {
        return Some(20.0 + 10.0 * i as f64);
    }
    match w {
        "dozen" => Some(12.0),
        "half" => Some(0.5),
        "twice" | "double" => Some(2.0),
        "thrice" | "triple" => Some(3.0),
        _ => None,
    }
}

pub(super) fn ordinal_word(w: &str) -> Option<f64> {
    const ORDINALS: [&str; 12] = [
        "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth", "eleventh",
        "twelfth",
    ];
    ORDINALS.iter().position(|o| *o == w).map(|i| i as f64 + 1.0)
}

pub(super) fn scale_word(w: &str) -> Option<f64> {
    match w {
        "hundred" => Some(100.0),
        "thousand" => Some(1e3),
        "million" => Some(1e6),
        "billion" => Some(1e9),
        "trillion" => Some(1e12),
        _ => None,
    }
}

/// Words that negate what follows, or are negative on their own.
pub(super) fn is_negation(w: &str) -> bool {
    matches!(
        w,
        "not" | "no" | "never" | "none" | "nobody" | "nothing" | "nowhere" | "neither" | "nor" | "without"
            | "cannot" | "unable" | "impossible" | "lack" | "lacks" | "lacking" | "fail" | "fails" | "failed"
    ) || w.ends_with("n't")
}

/// Prefixes that turn a word into its opposite (`possible` / `impossible`).
pub(super) const NEGATING_PREFIXES: &[&str] = &["un", "in", "im", "il", "ir", "dis", "non", "non-", "anti", "de", "mis"];

/// Pairs whose swap asks the opposite question.
pub(super) const ANTONYMS: &[(&str, &str)] = &[
    ("increase", "decrease"), ("increases", "decreases"), ("increasing", "decreasing"), ("raise", "lower"),
    ("buy", "sell"), ("buying", "selling"), ("bought", "sold"), ("before", "after"), ("up", "down"),
    ("upload", "download"), ("import", "export"), ("min", "max"), ("minimum", "maximum"), ("best", "worst"),
    ("better", "worse"), ("cheap", "expensive"), ("hot", "cold"), ("warm", "cool"), ("start", "stop"),
    ("begin", "end"), ("open", "close"), ("win", "lose"), ("winning", "losing"), ("add", "remove"),
    ("enable", "disable"), ("encrypt", "decrypt"), ("true", "false"), ("more", "less"), ("most", "least"),
    ("above", "below"), ("over", "under"), ("early", "late"), ("earlier", "later"), ("first", "last"),
    ("love", "hate"), ("male", "female"), ("man", "woman"), ("men", "women"), ("boy", "girl"), ("new", "old"),
    ("young", "old"), ("high", "low"), ("higher", "lower"), ("highest", "lowest"), ("fast", "slow"),
    ("faster", "slower"), ("big", "small"), ("bigger", "smaller"), ("large", "small"), ("largest", "smallest"),
    ("long", "short"), ("longer", "shorter"), ("good", "bad"), ("rich", "poor"), ("push", "pull"),
    ("lend", "borrow"), ("give", "take"), ("send", "receive"), ("arrive", "depart"), ("arrival", "departure"),
    ("north", "south"), ("east", "west"), ("left", "right"), ("top", "bottom"), ("inside", "outside"),
    ("positive", "negative"), ("accept", "reject"), ("allow", "deny"), ("include", "exclude"), ("input", "output"),
    ("login", "logout"), ("pros", "cons"), ("advantages", "disadvantages"), ("benefits", "risks"),
    ("safe", "dangerous"), ("easy", "hard"), ("easiest", "hardest"), ("light", "dark"), ("heavy", "light"),
    ("wet", "dry"), ("full", "empty"), ("gain", "lose"), ("profit", "loss"), ("join", "leave"),
    ("attack", "defend"), ("legal", "illegal"), ("healthy", "unhealthy"), ("strong", "weak"), ("thick", "thin"),
    ("deep", "shallow"), ("wide", "narrow"), ("always", "never"), ("everyone", "nobody"), ("all", "none"),
    ("yes", "no"), ("on", "off"), ("in", "out"), ("from", "to"), ("debit", "credit"), ("asc", "desc"),
    ("ascending", "descending"), ("encode", "decode"), ("compress", "decompress"), ("mount", "unmount"),
    ("install", "uninstall"), ("subscribe", "unsubscribe"), ("follow", "unfollow"), ("block", "unblock"),
    ("lock", "unlock"), ("pass", "fail"), ("rise", "fall"), ("rising", "falling"), ("husband", "wife"),
    ("father", "mother"), ("son", "daughter"), ("brother", "sister"), ("king", "queen"), ("he", "she"),
    ("his", "her"), ("him", "her"), ("yesterday", "tomorrow"), ("past", "future"), ("ancient", "modern"),
    ("client", "server"), ("frontend", "backend"), ("sender", "recipient"), ("buyer", "seller"),
    ("employer", "employee"), ("teacher", "student"), ("parent", "child"),
];

/// Words that tie two terms in one direction: swapping the terms around them changes the
/// question ("celsius to fahrenheit", "bigger than").
pub(super) fn is_directional(w: &str) -> bool {
    matches!(
        w,
        "to" | "from" | "into" | "than" | "vs" | "versus" | "before" | "after" | "over" | "under" | "above"
            | "below" | "by" | "for" | "of" | "on" | "onto" | "towards" | "per" | "beat" | "beats" | "killed"
            | "kill" | "bites" | "bit" | "married" | "owns" | "owes" | "pays" | "paid" | "sent" | "sends"
    )
}

/// The kind of answer a question word asks for: changing it changes the answer.
pub(super) fn answer_type(w: &str, next: Option<&str>) -> Option<&'static str> {
    match (w, next) {
        ("how", Some("much" | "many")) => Some("quantity"),
        ("how", Some("long")) => Some("duration"),
        ("how", Some("old")) => Some("age"),
        ("how", Some("far")) => Some("distance"),
        ("how", Some("often")) => Some("frequency"),
        ("who" | "whom" | "whose", _) => Some("person"),
        ("when", _) => Some("time"),
        ("where", _) => Some("place"),
        ("why", _) => Some("reason"),
        ("which", _) => Some("choice"),
        _ => None,
    }
}

/// Words that place a question in time: a different one asks about another moment. Not "may"
/// or "fall", which are more often a verb.
pub(super) fn is_time_word(w: &str) -> bool {
    matches!(
        w,
        "today" | "tomorrow" | "yesterday" | "tonight" | "now" | "currently" | "next" | "last" | "previous"
            | "morning" | "evening" | "night" | "weekend" | "monday" | "tuesday" | "wednesday" | "thursday"
            | "friday" | "saturday" | "sunday" | "january" | "february" | "march" | "april" | "june" | "july"
            | "august" | "september" | "october" | "november" | "december" | "spring" | "summer" | "autumn"
            | "winter" | "daily" | "weekly" | "monthly" | "yearly" | "annual" | "annually"
    )
}

/// Words that set how much of something a question is about. Not "any" or "each": "is there
/// any way" asks what "is there a way" asks.
pub(super) fn is_quantifier(w: &str) -> bool {
    matches!(w, "all" | "every" | "some" | "only" | "most" | "least" | "few" | "both" | "none")
}

/// Units and currencies: the same number in another unit is another question.
pub(super) fn is_unit(w: &str) -> bool {
    matches!(
        w,
        "$" | "€" | "£" | "¥" | "%" | "usd" | "eur" | "gbp" | "inr" | "jpy" | "dollar" | "dollars" | "euro" | "euros"
            | "pound" | "pounds" | "rupee" | "rupees" | "yen" | "percent" | "km" | "kilometer" | "kilometers"
            | "kilometre" | "kilometres" | "mile" | "miles" | "m" | "meter" | "meters" | "metre" | "metres" | "cm"
            | "mm" | "inch" | "inches" | "foot" | "feet" | "ft" | "yard" | "yards" | "kg" | "kilogram" | "kilograms"
            | "g" | "gram" | "grams" | "lb" | "lbs" | "ounce" | "ounces" | "oz" | "ton" | "tons" | "tonne" | "tonnes"
            | "l" | "liter" | "liters" | "litre" | "litres" | "ml" | "gallon" | "gallons" | "celsius" | "fahrenheit"
            | "kelvin" | "c" | "f" | "kb" | "mb" | "gb" | "tb" | "kbps" | "mbps" | "gbps" | "hz" | "khz" | "mhz"
            | "ghz" | "w" | "kw" | "watt" | "watts" | "v" | "volt" | "volts" | "mph" | "kmh" | "second" | "seconds"
            | "minute" | "minutes" | "hour" | "hours" | "day" | "days" | "week" | "weeks" | "month" | "months"
            | "year" | "years" | "decade" | "decades" | "century" | "centuries" | "am" | "pm" | "bc" | "ad"
    )
}

/// Words that carry no meaning of their own for the order rule and the overlap features.
pub(super) fn is_stopword(w: &str) -> bool {
    matches!(
        w,
        "a" | "an" | "the" | "is" | "are" | "was" | "were" | "be" | "been" | "being" | "am" | "do" | "does" | "did"
            | "i" | "me" | "my" | "we" | "our" | "you" | "your" | "it" | "its" | "this" | "that" | "these" | "those"
            | "what" | "how" | "can" | "could" | "should" | "would" | "will" | "shall" | "may" | "might" | "must"
            | "and" | "or" | "but" | "if" | "so" | "at" | "with" | "as" | "about" | "there" | "here" | "any" | "some"
            | "get" | "to" | "of" | "in" | "on" | "for" | "by" | "from" | "than" | "into" | "vs" | "versus"
            | "which" | "who" | "whom" | "when" | "where" | "why" | "they" | "them" | "their" | "he" | "she"
            | "his" | "her" | "him" | "us" | "also" | "just" | "really" | "very" | "way" | "ways" | "best" | "good"
    )
}
