"""DynamoDBStore: entries in one DynamoDB table in mneme-cache 1.0's layout (the engine's
DynamoDbStore, on the AWS SDK for Rust: boto3 is not needed). Credentials and region come from
the usual AWS chain (environment, ~/.aws profile, instance role) unless given."""

from ._native import DynamoDBStore

__all__ = ["DynamoDBStore"]
