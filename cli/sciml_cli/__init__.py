"""The sciml command line (click)."""
