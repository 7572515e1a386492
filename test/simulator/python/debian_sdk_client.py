"""Drives the simulator with Debian's Python Azure SDK (python3-azure): the client Debian users have.

Reads the target from the environment (HSM_URL, AUTHORITY, TENANT_ID, CLIENT_ID, CLIENT_SECRET; REQUESTS_CA_BUNDLE
trusts the simulator's CA) and prints one JSON object with what the service answered. The caller checks it.
"""
import hashlib
import json
import os

from azure.core.exceptions import HttpResponseError
from azure.identity import ClientSecretCredential
from azure.keyvault.administration import KeyVaultBackupClient, KeyVaultSettingsClient
from azure.keyvault.keys import KeyClient
from azure.keyvault.keys.crypto import CryptographyClient, SignatureAlgorithm

url = os.environ["HSM_URL"]
credential = ClientSecretCredential(
    os.environ["TENANT_ID"], os.environ["CLIENT_ID"], os.environ["CLIENT_SECRET"],
    authority=os.environ["AUTHORITY"], instance_discovery=False,
)
out = {}

keys = KeyClient(url, credential, verify_challenge_resource=False)
out["api_version"] = keys.api_version
key = keys.create_rsa_key("py-rsa", size=2048)  # kty "RSA": the ordinary call, no hardware_protected flag
out["kty"] = str(key.key_type.value if hasattr(key.key_type, "value") else key.key_type)
out["n"] = key.key.n.hex()
out["e"] = key.key.e.hex()
digest = hashlib.sha256(b"from python").digest()
crypto = CryptographyClient(key, credential, verify_challenge_resource=False)
out["signature"] = crypto.sign(SignatureAlgorithm.rs256, digest).signature.hex()
out["missing_versions"] = len(list(keys.list_properties_of_key_versions("py-never-made")))

settings = KeyVaultSettingsClient(url, credential, verify_challenge_resource=False)
out["setting"] = settings.get_setting("AllowKeyManagementOperationsThroughARM").value

backup = KeyVaultBackupClient(url, credential, verify_challenge_resource=False)
try:
    backup.begin_backup("https://127.0.0.1:1/devstoreaccount1/none", "bad_token").result()
    out["bad_sas"] = "accepted"
except HttpResponseError as err:
    out["bad_sas"] = {"status": err.status_code, "message": str(err.message)}

print(json.dumps(out))
