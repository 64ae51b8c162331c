"""The only package that touches cffi: C ring walking, the netmap ABI, native fast paths."""
