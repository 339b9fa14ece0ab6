"""Ed25519 keys: making a pair, loading a signer, loading a trusted public key.  A key id is
the hex SHA-256 of the public key's DER SubjectPublicKeyInfo."""

from __future__ import annotations

import os
import re
import stat
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InternalError, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.utils import CryptographyDeprecationWarning
from securesystemslib.signer import CryptoSigner, SSlibKey

from cutover.bundles.files import read_regular
from cutover.bundles.schema import Rejected, sha256
from cutover.errors import UsageError, path_shown

KEY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def keyid_of(public: Ed25519PublicKey) -> str:
    der = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return sha256(der)


@dataclass(frozen=True)
class PublicKey:
    keyid: str
    path: str  # as the trust file names it
    key: SSlibKey


@dataclass(frozen=True)
class KeyFiles:
    keyid: str
    private: Path
    public: Path
    encrypted: bool


def _write_new(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    try:
        os.fchmod(fd, mode)  # whatever the umask says
        os.write(fd, data)
    finally:
        os.close(fd)


def write_keypair(folder: Path, name: str, passphrase: bytes | None) -> KeyFiles:
    """A new Ed25519 pair: NAME.key (PKCS#8 PEM, mode 0600, encrypted when a passphrase is
    given) and NAME.pub (SubjectPublicKeyInfo PEM).  Existing files are never overwritten."""
    if not KEY_NAME.fullmatch(name):
        raise UsageError(f"--name {name!r}: use letters, digits, '.', '_' or '-'")
    private_path, public_path = folder / f"{name}.key", folder / f"{name}.pub"
    for path in (private_path, public_path):
        if path.exists() or path.is_symlink():
            raise UsageError(f"{path} already exists; choose another --name or move it away")
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        key = Ed25519PrivateKey.generate()
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(passphrase)
            if passphrase
            else serialization.NoEncryption()
        )
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
        )
        public = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        _write_new(private_path, pem, 0o600)
        _write_new(public_path, public, 0o644)
    except OSError as exc:
        raise UsageError(f"cannot write keys in {folder}: {exc.strerror or exc}") from None
    return KeyFiles(keyid_of(key.public_key()), private_path, public_path, bool(passphrase))


def load_signer(path: Path, passphrase: Callable[[Path], bytes]) -> CryptoSigner:
    """A private key file as a signer; `passphrase` is asked only for an encrypted key.  Like
    ssh, a key file others can read or write is refused."""
    try:
        info = path.stat()
        data = path.read_bytes() if stat.S_ISREG(info.st_mode) else b""
    except OSError as exc:
        raise UsageError(f"--key {path}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(info.st_mode):
        raise UsageError(f"--key {path_shown(path)}: not a regular file")
    if _is_public_key(data):
        private = path.with_suffix(".key") if path.suffix == ".pub" else None
        hint = (
            f" (--key {path_shown(private)}?)" if private is not None and private.exists() else ""
        )
        raise UsageError(
            f"--key {path_shown(path)}: is a public key; export signs with the signer's private "
            f"key{hint}, and the public key goes in the importer's trust file"
        )
    if info.st_mode & 0o077:
        raise UsageError(
            f"--key {path}: private key is accessible by others "
            f"(mode {stat.S_IMODE(info.st_mode):04o}); run `chmod 600 {path}`"
        )
    key = _private_key(path, data, passphrase)
    if not isinstance(key, Ed25519PrivateKey):
        raise UsageError(f"--key {path}: not an Ed25519 key")
    public = key.public_key()
    return CryptoSigner(key, SSlibKey.from_crypto(public, keyid=keyid_of(public)))


def _private_key(path: Path, data: bytes, passphrase: Callable[[Path], bytes]) -> PrivateKeyTypes:
    """The private key in a PEM file, the passphrase asked for only if it is encrypted; every
    way it can fail is one UsageError naming the file (whether it is Ed25519 is the caller's
    question)."""
    if data.lstrip().startswith(b"-----BEGIN OPENSSH PRIVATE KEY-----"):
        raise UsageError(
            f"--key {path}: an OpenSSH private key; export signs with a PEM (PKCS#8) Ed25519 "
            "key, which `cutover keygen` makes"
        )
    try:
        return _load_pem(path, data, None)
    except TypeError:  # encrypted
        pass
    except ValueError:
        raise UsageError(f"--key {path}: not a PEM private key") from None
    except InternalError:  # e.g. an Ed25519 key of the wrong length
        raise UsageError(f"--key {path}: not a valid private key (OpenSSL refused it)") from None
    secret = passphrase(path)
    if not secret:  # Enter at the prompt; cryptography would say no password was given
        raise UsageError(f"--key {path}: the key is encrypted and the passphrase is empty")
    try:
        return _load_pem(path, data, secret)
    except ValueError as exc:
        raise UsageError(f"--key {path}: {_decryption_failure(exc)}") from None
    except InternalError:  # OpenSSL's own refusal, e.g. of scrypt parameters
        raise UsageError(
            f"--key {path}: cannot read the encrypted key: OpenSSL refused it (a damaged "
            "file, or key derivation parameters it does not accept)"
        ) from None


def _load_pem(path: Path, data: bytes, password: bytes | None) -> PrivateKeyTypes:
    """cryptography's reading, with an unknown key type or curve (encrypted or not) refused."""
    with warnings.catch_warnings():
        # A finite-field DH key warns that cryptography will drop it; it is refused anyway.
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        try:
            return serialization.load_pem_private_key(data, password=password)
        except UnsupportedAlgorithm as exc:
            raise UsageError(f"--key {path}: not an Ed25519 key ({exc})") from None


def _decryption_failure(exc: ValueError) -> str:
    """Why an encrypted key did not open, from cryptography's message (its wording; anything
    else is shown as it is).  A wrong passphrase usually fails the decryption, but for about
    one in 250 with AES-CBC (and most with a stream cipher) what it decrypts to ends in valid
    padding, and the parsing of that garbage fails instead, as it does for a damaged file.
    An algorithm cryptography does not know fails whatever the passphrase."""
    text = str(exc)
    if text.startswith("Incorrect password"):
        return "wrong passphrase"
    if text.startswith("Could not deserialize key data"):
        return "wrong passphrase, or the key file is damaged"
    if text.startswith(("Unknown key encryption algorithm", "Key encrypted with unknown cipher")):
        return f"encrypted with an algorithm cutover cannot read ({text})"
    return f"cannot read the encrypted key ({text})"


def _is_public_key(data: bytes) -> bool:
    """A PEM public key (what `keygen` writes to NAME.pub), or an OpenSSH one."""
    head = data.lstrip()[:64]
    return head.startswith((b"-----BEGIN PUBLIC KEY-----", b"ssh-ed25519 ", b"ssh-rsa "))


def load_public_key(path: Path, display: str) -> PublicKey:
    """A SubjectPublicKeyInfo PEM file; raises ValueError with what is wrong."""
    try:
        data = read_regular(path, 65_536)
    except Rejected as exc:
        raise ValueError(f"cannot read public key {display}: {exc.reason}") from None
    try:
        public = serialization.load_pem_public_key(data)
    except ValueError:
        raise ValueError(f"{display} is not a PEM public key") from None
    if not isinstance(public, Ed25519PublicKey):
        raise ValueError(f"{display} is not an Ed25519 public key")
    keyid = keyid_of(public)
    return PublicKey(keyid, display, SSlibKey.from_crypto(public, keyid=keyid))
