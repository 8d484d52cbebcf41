"""A stack's Pulumi secrets provider: the stack's own KMS key, written into `Pulumi.<stack>.yaml`.

Pulumi's `awskms://` provider keeps a random 32-byte data key, encrypted with the KMS key, in the stack
file as `encryptedkey`; with both lines committed, CI decrypts with its role's KMS permission and needs
no passphrase. An existing data key of the same KMS key is kept (its secure values stay readable); a
key of another provider is never replaced silently.
"""

from __future__ import annotations

import base64
import os
import re
from pathlib import Path

from botocore.exceptions import ClientError

DATA_KEY_BYTES = 32
_LINE = re.compile(r"^(secretsprovider|encryptedkey):\s*(.*?)\s*$", re.MULTILINE)


class ProviderConflict(Exception):
    """The stack file already names another secrets provider or key."""


def provider_url(kms_alias: str, region: str) -> str:
    return f"awskms://{kms_alias}?region={region}"


def current(text: str) -> dict[str, str]:
    return {key: value.strip("'\"") for key, value in _LINE.findall(text)}


def _decrypts(kms, encrypted: str, key_arn: str) -> bool:
    try:
        answer = kms.decrypt(CiphertextBlob=base64.b64decode(encrypted))
    except (ClientError, ValueError):
        return False
    return answer["KeyId"] == key_arn and len(answer["Plaintext"]) == DATA_KEY_BYTES


def ensure(stack_file: Path, kms, kms_alias: str, region: str, key_arn: str) -> str | None:
    """Write `secretsprovider` and `encryptedkey` at the top of the stack file; the change made, or None."""
    text = stack_file.read_text()
    url, found = provider_url(kms_alias, region), current(text)
    if found.get("secretsprovider") == url and _decrypts(kms, found.get("encryptedkey", ""), key_arn):
        return None
    if found.get("encryptedkey") and found.get("secretsprovider") not in (None, url):
        raise ProviderConflict(
            f"{stack_file.name} uses the secrets provider {found['secretsprovider']}: its secure values would become "
            f"unreadable; move them with `pulumi stack change-secrets-provider \"{url}\"` instead")
    if found.get("encryptedkey") and found.get("secretsprovider") == url:
        raise ProviderConflict(f"{stack_file.name} has an encryptedkey that {kms_alias} cannot decrypt")
    ciphertext = kms.encrypt(KeyId=kms_alias, Plaintext=os.urandom(DATA_KEY_BYTES))["CiphertextBlob"]
    header = f"secretsprovider: {url}\nencryptedkey: {base64.b64encode(ciphertext).decode()}\n"
    stack_file.write_text(header + _LINE.sub("", text).lstrip("\n"))
    return f"wrote the secrets provider {url} and a new data key into {stack_file.name}"
