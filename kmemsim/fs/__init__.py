"""Kernel files from fs/ that reach into the allocator."""
