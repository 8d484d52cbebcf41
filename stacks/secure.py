"""A `secure:` stack-file value, which the offline tools cannot decrypt."""

from __future__ import annotations

# What each secret key stands for offline: a value its validation accepts (the real one is checked by
# the program at `pulumi up`, decrypted).
OFFLINE_PLACEHOLDERS = {
    "slackWebhookUrl": "https://hooks.slack.com/services/offline/secure/placeholder",
}
DEFAULT_PLACEHOLDER = "offline-secure-placeholder"


class SecureValue(str):
    """The placeholder of an encrypted value: text, marked so the tools know the key was set as a secret."""


def placeholder(key: str) -> SecureValue:
    return SecureValue(OFFLINE_PLACEHOLDERS.get(key.partition(":")[2], DEFAULT_PLACEHOLDER))
