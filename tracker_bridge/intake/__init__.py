"""Bytes of an email -> a decrypted, verified, structured message; and the places mail comes from."""
