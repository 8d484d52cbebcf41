"""A `secure:` stack-file value, which the offline tools cannot decrypt."""

from __future__ import annotations

# What each secret key stands for offline: a value its validation accepts (the real one is checked by
# the program at `pulumi up`, decrypted).
OFFLINE_PLACEHOLDERS = {
    "slackWebhookUrl": "https://hooks.slack.com/services/offline/secure/placeholder",
    "heartbeatUrl": "https://heartbeat.invalid/offline/secure/placeholder",
}
DEFAULT_PLACEHOLDER = "offline-secure-placeholder"


class SecureValue(str):
    """The placeholder of an encrypted value: text, marked so the tools know the key was set as a secret."""


class SecureMap(dict):
    """A config block with an encrypted value inside (`--secret --path`): Pulumi treats the whole key as secret."""


def placeholder(key: str) -> SecureValue:
    return SecureValue(OFFLINE_PLACEHOLDERS.get(key.rpartition(":")[2].rpartition(".")[2], DEFAULT_PLACEHOLDER))


def with_placeholders(value, key: str):
    """`value` with every `{secure: ...}` inside replaced by its placeholder; a map holding one becomes a
    `SecureMap`, so the key it belongs to is known to be secret."""
    if isinstance(value, dict) and set(value) == {"secure"}:
        return placeholder(key)
    if isinstance(value, dict):
        replaced = {k: with_placeholders(v, f"{key}.{k}") for k, v in value.items()}
        secret = any(isinstance(v, (SecureValue, SecureMap)) for v in replaced.values())
        return SecureMap(replaced) if secret else replaced
    return value
