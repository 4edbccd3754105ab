"""A tiny third-party plugin: noisy linear regression. Used by sciml's own tests."""
