"""vm.drop_caches: throw away clean page cache (and slab, with 2).

Kernel: fs/drop_caches.c (v3.13) drop_caches_sysctl_handler(), drop_pagecache_sb(),
drop_slab().  kmemsim has one superblock; its inodes are the files of kmemsim.sim.owners,
walked newest first as the superblock's s_inodes list holds them.  Files with no pages are
skipped.  ``& 2`` (drop_slab) shrinks the slab caches' shrinkers; kmemsim models no
shrinkable slab caches (dentries, inodes), so it frees nothing.
"""

from kmemsim.jit import kernel
from kmemsim.mm.mmzone import CFG_MAX_OWNERS, OW_KIND, OWNER_FILE, owner_head
from kmemsim.mm.truncate import invalidate_mapping_pages

__all__ = ["drop_pagecache_sb", "drop_caches_sysctl_handler"]


@kernel
def drop_pagecache_sb(mem):
    """Kernel: fs/drop_caches.c drop_pagecache_sb(): invalidate_mapping_pages() on every
    inode with pages; how many pages were dropped (the kernel does not count them)."""
    total = 0
    for file in range(mem.cfg[CFG_MAX_OWNERS] - 1, 0, -1):
        if mem.owners[file, OW_KIND] != OWNER_FILE:
            continue
        if mem.rmap_next[owner_head(mem, file)] == owner_head(mem, file):   # nrpages == 0
            continue
        total += invalidate_mapping_pages(mem, file)
    return total


def drop_caches_sysctl_handler(k, value: int) -> int:
    """Kernel: fs/drop_caches.c drop_caches_sysctl_handler(), after proc_dointvec_minmax
    accepted ``value`` (1..3): bit 1 drops the page cache, bit 2 the slab caches.  Returns
    the number of pages dropped."""
    k.sysctl_drop_caches = value
    dropped = 0
    if value & 1:
        dropped += int(k.fn.drop_pagecache_sb(k.mem))
    return dropped
