"""Cryptographic adapters: the certificate authority that signs station certificates."""
