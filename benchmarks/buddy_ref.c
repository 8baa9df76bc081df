/*
 * buddy_ref.c -- C reference model of the Linux 3.13 buddy allocator core,
 * used as the speed and correctness yardstick for kmemsim's replay.
 *
 * Scope: one zone of `zone_pages` pages starting at pfn 0, no holes,
 * orders 0..MAX_ORDER-1 (MAX_ORDER = 11), four migratetypes
 * (UNMOVABLE, RECLAIMABLE, MOVABLE, RESERVE), pageblock_order 9.
 * No per-cpu lists, no watermarks: allocation goes straight to __rmqueue,
 * freeing straight to __free_one_page, as under the zone lock.
 *
 * State is a struct of arrays indexed by pfn.  Free lists are circular
 * doubly linked lists of int32 indices: nodes 0..zone_pages-1 are pages,
 * nodes zone_pages.. are the sentinel heads, one per (order, migratetype),
 * and the operations mirror list_head (add at head, add at tail, delete,
 * move).
 *
 * Usage:  buddy_ref EVENTS.npy [zone_pages] [--check]
 *         buddy_ref --raw EVENTS.bin [zone_pages] [--check]
 * EVENTS is written by gen_events.py: an (n, 2) little-endian int32 array,
 * either as a .npy file (format 1.0/2.0/3.0, C order) or headerless (--raw).
 * --check validates every structural invariant after the replay (untimed).
 *
 * Output: one JSON line, see README.md.  peak_rss_kb is VmHWM (see
 * peak_rss_kb() for why not getrusage alone).
 *
 * Build:  gcc -O2 -std=c11 -o buddy_ref buddy_ref.c
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>

#define MAX_ORDER 11
#define PAGEBLOCK_ORDER 9
#define PAGEBLOCK_NR_PAGES (1L << PAGEBLOCK_ORDER)

enum { MT_UNMOVABLE = 0, MT_RECLAIMABLE = 1, MT_MOVABLE = 2, MT_RESERVE = 3,
       MT_TYPES = 4 };

#define PG_BUDDY 0x01u

/* 3.13 fallback preference per starting type (no CMA); each row ends with
 * RESERVE, which stops the fallback scan. */
static const int fallbacks[MT_TYPES][4] = {
    [MT_UNMOVABLE]   = { MT_RECLAIMABLE, MT_MOVABLE,    MT_RESERVE, MT_RESERVE },
    [MT_RECLAIMABLE] = { MT_UNMOVABLE,   MT_MOVABLE,    MT_RESERVE, MT_RESERVE },
    [MT_MOVABLE]     = { MT_RECLAIMABLE, MT_UNMOVABLE,  MT_RESERVE, MT_RESERVE },
    [MT_RESERVE]     = { MT_RESERVE,     MT_RESERVE,    MT_RESERVE, MT_RESERVE },
};

static const int page_group_by_mobility_disabled = 0;

/* ---- zone state (struct of arrays) ------------------------------------ */
static int32_t  zone_pages;
static int32_t *lnext, *lprev;     /* list links; size zone_pages + heads   */
static uint8_t *porder;            /* page_private: order of a free head    */
static uint8_t *pflags;            /* PG_BUDDY                               */
static int8_t  *freepage_mt;       /* freepage migratetype                   */
static uint8_t *pageblock_mt;      /* migratetype of each pageblock          */
static long     nr_free[MAX_ORDER];
static long     nr_free_pages;     /* NR_FREE_PAGES                          */

static inline int32_t list_head_of(int order, int mt)
{
    return zone_pages + order * MT_TYPES + mt;
}

/* ---- list_head equivalents -------------------------------------------- */
static inline void list_init(int32_t h) { lnext[h] = h; lprev[h] = h; }
static inline int  list_empty(int32_t h) { return lnext[h] == h; }

static inline void list_insert_between(int32_t n, int32_t before, int32_t after)
{
    lprev[after] = n;
    lnext[n] = after;
    lprev[n] = before;
    lnext[before] = n;
}
static inline void list_add(int32_t n, int32_t h)      { list_insert_between(n, h, lnext[h]); }
static inline void list_add_tail(int32_t n, int32_t h) { list_insert_between(n, lprev[h], h); }
static inline void list_del(int32_t n)
{
    int32_t p = lprev[n], x = lnext[n];
    lprev[x] = p;
    lnext[p] = x;
    lnext[n] = -1;                 /* poison */
    lprev[n] = -1;
}
static inline void list_move(int32_t n, int32_t h)
{
    int32_t p = lprev[n], x = lnext[n];
    lprev[x] = p;
    lnext[p] = x;
    list_add(n, h);
}

/* ---- page state ------------------------------------------------------- */
static inline void set_page_order(int32_t pfn, int order)
{
    porder[pfn] = (uint8_t)order;
    pflags[pfn] |= PG_BUDDY;
}
static inline void rmv_page_order(int32_t pfn)
{
    pflags[pfn] &= (uint8_t)~PG_BUDDY;
    porder[pfn] = 0;
}
static inline int page_buddy(int32_t pfn) { return pflags[pfn] & PG_BUDDY; }

static inline int get_pageblock_migratetype(int32_t pfn)
{
    return pageblock_mt[pfn >> PAGEBLOCK_ORDER];
}
static inline void set_pageblock_migratetype(int32_t pfn, int mt)
{
    pageblock_mt[pfn >> PAGEBLOCK_ORDER] = (uint8_t)mt;
}

/* Index (within the MAX_ORDER block) of the buddy of block page_idx. */
static inline long find_buddy_index(long page_idx, int order)
{
    return page_idx ^ (1L << order);
}

/* Is `buddy` a free block head of exactly `order` in this zone?  With a
 * single hole-free zone the validity and same-zone tests reduce to a range
 * check.  (No debug guard pages in this model.) */
static inline int page_is_buddy(long buddy, int order)
{
    if (buddy < 0 || buddy >= zone_pages)
        return 0;
    return page_buddy((int32_t)buddy) && porder[buddy] == order;
}

/* ---- freeing ---------------------------------------------------------- */
static void free_one_page_core(int32_t pfn, int order, int mt)
{
    long page = pfn;
    long page_idx = page & ((1L << MAX_ORDER) - 1);
    long buddy_idx = 0, buddy = 0, combined;

    /* Merge upward while the buddy at the current order is free. */
    while (order < MAX_ORDER - 1) {
        buddy_idx = find_buddy_index(page_idx, order);
        buddy = page + (buddy_idx - page_idx);
        if (!page_is_buddy(buddy, order))
            break;
        list_del((int32_t)buddy);
        nr_free[order]--;
        rmv_page_order((int32_t)buddy);
        combined = buddy_idx & page_idx;
        page += combined - page_idx;
        page_idx = combined;
        order++;
    }
    set_page_order((int32_t)page, order);

    /* Tail placement: if the block one order up (our parent) has a free
     * buddy, this block is likely to merge soon, so queue it at the tail
     * where allocations (which take from the head) reach it last.  `buddy`
     * is the last buddy examined by the loop (always valid here). */
    if (order < MAX_ORDER - 2 && buddy >= 0 && buddy < zone_pages) {
        long parent_idx = buddy_idx & page_idx;
        long parent = page + (parent_idx - page_idx);
        long hb_idx = find_buddy_index(parent_idx, order + 1);
        long higher_buddy = parent + (hb_idx - parent_idx);
        if (page_is_buddy(higher_buddy, order + 1)) {
            list_add_tail((int32_t)page, list_head_of(order, mt));
            nr_free[order]++;
            return;
        }
    }
    list_add((int32_t)page, list_head_of(order, mt));
    nr_free[order]++;
}

/* Free path of __free_pages_ok/free_one_page: the migratetype comes from the
 * pageblock and is recorded as the freepage migratetype. */
static void free_pages(int32_t pfn, int order)
{
    int mt = get_pageblock_migratetype(pfn);
    freepage_mt[pfn] = (int8_t)mt;
    free_one_page_core(pfn, order, mt);
    nr_free_pages += 1L << order;
}

/* ---- allocation ------------------------------------------------------- */
/* Split a free 2^high block at pfn down to 2^low, putting each upper half at
 * the head of the next lower order's list. */
static inline void expand(int32_t pfn, int low, int high, int mt)
{
    long size = 1L << high;
    while (high > low) {
        high--;
        size >>= 1;
        list_add(pfn + (int32_t)size, list_head_of(high, mt));
        nr_free[high]++;
        set_page_order(pfn + (int32_t)size, high);
    }
}

static inline int32_t rmqueue_smallest(int order, int mt)
{
    for (int cur = order; cur < MAX_ORDER; cur++) {
        int32_t h = list_head_of(cur, mt);
        if (list_empty(h))
            continue;
        int32_t pfn = lnext[h];
        list_del(pfn);
        rmv_page_order(pfn);
        nr_free[cur]--;
        expand(pfn, order, cur, mt);
        return pfn;
    }
    return -1;
}

/* Move every free block head in [start, end] to the `mt` lists. */
static long move_freepages(int32_t start, int32_t end, int mt)
{
    long moved = 0;
    int32_t pfn = start;
    while (pfn <= end) {
        if (!page_buddy(pfn)) {
            pfn++;
            continue;
        }
        int order = porder[pfn];
        list_move(pfn, list_head_of(order, mt));
        freepage_mt[pfn] = (int8_t)mt;
        pfn += 1 << order;
        moved += 1L << order;
    }
    return moved;
}

static long move_freepages_block(int32_t pfn, int mt)
{
    long start = pfn & ~(PAGEBLOCK_NR_PAGES - 1);
    long end = start + PAGEBLOCK_NR_PAGES - 1;
    if (start < 0 || start >= zone_pages)
        start = pfn;
    if (end >= zone_pages)
        return 0;
    return move_freepages((int32_t)start, (int32_t)end, mt);
}

static void change_pageblock_range(int32_t pfn, int start_order, int mt)
{
    int n = 1 << (start_order - PAGEBLOCK_ORDER);
    while (n--) {
        set_pageblock_migratetype(pfn, mt);
        pfn += PAGEBLOCK_NR_PAGES;
    }
}

/* 3.13 steal heuristic; returns the type whose lists take the remainder. */
static int try_to_steal_freepages(int32_t pfn, int start_type, int fallback_type)
{
    int cur = porder[pfn];
    if (cur >= PAGEBLOCK_ORDER) {
        change_pageblock_range(pfn, cur, start_type);
        return start_type;
    }
    if (cur >= PAGEBLOCK_ORDER / 2 || start_type == MT_RECLAIMABLE ||
        page_group_by_mobility_disabled) {
        long pages = move_freepages_block(pfn, start_type);
        if (pages >= (1L << (PAGEBLOCK_ORDER - 1)) ||
            page_group_by_mobility_disabled) {
            set_pageblock_migratetype(pfn, start_type);
            return start_type;
        }
    }
    return fallback_type;
}

/* Largest block first from the other types' lists (RESERVE excluded). */
static int32_t rmqueue_fallback(int order, int start_mt)
{
    for (int cur = MAX_ORDER - 1; cur >= order; cur--) {
        for (int i = 0;; i++) {
            int fb = fallbacks[start_mt][i];
            if (fb == MT_RESERVE)
                break;
            int32_t h = list_head_of(cur, fb);
            if (list_empty(h))
                continue;
            int32_t pfn = lnext[h];
            nr_free[cur]--;
            int new_type = try_to_steal_freepages(pfn, start_mt, fb);
            list_del(pfn);
            rmv_page_order(pfn);
            expand(pfn, order, cur, new_type);
            return pfn;
        }
    }
    return -1;
}

static int32_t rmqueue(int order, int mt)
{
    int32_t pfn;
    for (;;) {
        pfn = rmqueue_smallest(order, mt);
        if (pfn < 0 && mt != MT_RESERVE) {
            pfn = rmqueue_fallback(order, mt);
            if (pfn < 0) {
                mt = MT_RESERVE;
                continue;
            }
        }
        break;
    }
    return pfn;
}

static int32_t alloc_pages(int order, int mt)
{
    int32_t pfn = rmqueue(order, mt);
    if (pfn >= 0) {
        freepage_mt[pfn] = (int8_t)mt;
        nr_free_pages -= 1L << order;
    }
    return pfn;
}

/* ---- boot ------------------------------------------------------------- */
static void *xcalloc(size_t n, size_t sz)
{
    void *p = calloc(n, sz);
    if (!p) { perror("calloc"); exit(2); }
    return p;
}

static void zone_init(int32_t pages)
{
    zone_pages = pages;
    size_t nodes = (size_t)pages + MAX_ORDER * MT_TYPES;
    lnext = xcalloc(nodes, sizeof *lnext);
    lprev = xcalloc(nodes, sizeof *lprev);
    porder = xcalloc((size_t)pages, 1);
    pflags = xcalloc((size_t)pages, 1);
    freepage_mt = xcalloc((size_t)pages, 1);
    pageblock_mt = xcalloc((size_t)pages / PAGEBLOCK_NR_PAGES + 1, 1);
    for (int o = 0; o < MAX_ORDER; o++) {
        nr_free[o] = 0;
        for (int t = 0; t < MT_TYPES; t++)
            list_init(list_head_of(o, t));
    }
    for (long pb = 0; pb * PAGEBLOCK_NR_PAGES < pages; pb++)
        pageblock_mt[pb] = MT_MOVABLE;
    for (long p = 0; p < pages; p++)
        lnext[p] = lprev[p] = -1;
    nr_free_pages = 0;
    /* Hand every MAX_ORDER block to the allocator in ascending pfn order. */
    for (long p = 0; p < pages; p += 1L << (MAX_ORDER - 1))
        free_pages((int32_t)p, MAX_ORDER - 1);
}

/* ---- invariant check (untimed, --check) -------------------------------- */
static int check_zone(const int32_t *pfn_of_id, const int32_t *ev, long n)
{
    int bad = 0;
    long total = 0;
    uint8_t *seen = xcalloc((size_t)zone_pages, 1);
    for (int o = 0; o < MAX_ORDER; o++) {
        long cnt = 0;
        for (int t = 0; t < MT_TYPES; t++) {
            int32_t h = list_head_of(o, t);
            int32_t prev = h;
            for (int32_t x = lnext[h]; x != h; prev = x, x = lnext[x]) {
                if (x < 0 || x >= zone_pages) { fprintf(stderr, "bad link %d\n", x); bad = 1; goto out; }
                if (lprev[x] != prev) { fprintf(stderr, "prev mismatch at %d\n", x); bad = 1; }
                if (!page_buddy(x) || porder[x] != o) { fprintf(stderr, "non-buddy %d on order %d list\n", x, o); bad = 1; }
                if (x & ((1 << o) - 1)) { fprintf(stderr, "misaligned %d order %d\n", x, o); bad = 1; }
                if (t != MT_MOVABLE) { fprintf(stderr, "page %d on type %d list\n", x, t); bad = 1; }
                for (long k = 0; k < (1L << o); k++) {
                    if (seen[x + k]) { fprintf(stderr, "overlap at %ld\n", x + k); bad = 1; }
                    seen[x + k] = 1;
                }
                /* A free block's buddy must not also be free at the same order. */
                if (o < MAX_ORDER - 1) {
                    long b = x ^ (1L << o);
                    if (page_is_buddy(b, o)) { fprintf(stderr, "unmerged pair %d/%ld\n", x, b); bad = 1; }
                }
                cnt++;
                total += 1L << o;
            }
        }
        if (cnt != nr_free[o]) { fprintf(stderr, "nr_free[%d]=%ld, lists hold %ld\n", o, nr_free[o], cnt); bad = 1; }
    }
    if (total != nr_free_pages) { fprintf(stderr, "NR_FREE_PAGES %ld, lists hold %ld\n", nr_free_pages, total); bad = 1; }
    /* Every page is free xor covered by exactly one live allocation. */
    {
        uint8_t *live = xcalloc((size_t)n, 1);
        for (long i = 0; i < n; i++) {
            if (ev[2 * i] == 0) live[i] = pfn_of_id[i] >= 0;
            else live[ev[2 * i + 1]] = 0;
        }
        for (long i = 0; i < n && !bad; i++) {
            if (!live[i]) continue;
            long p = pfn_of_id[i], sz = 1L << ev[2 * i + 1];
            for (long k = 0; k < sz; k++) {
                if (seen[p + k]) { fprintf(stderr, "page %ld both free/allocated or doubly allocated\n", p + k); bad = 1; break; }
                seen[p + k] = 1;
            }
        }
        for (long p = 0; p < zone_pages && !bad; p++)
            if (!seen[p]) { fprintf(stderr, "page %ld lost\n", p); bad = 1; }
        free(live);
    }
out:
    free(seen);
    return bad;
}

/* ---- event file ------------------------------------------------------- */
static int32_t *load_events(const char *path, int raw, long *n_out)
{
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); exit(2); }
    long n;
    if (raw) {
        fseek(f, 0, SEEK_END);
        long bytes = ftell(f);
        fseek(f, 0, SEEK_SET);
        if (bytes % 8) { fprintf(stderr, "%s: size not a multiple of 8\n", path); exit(2); }
        n = bytes / 8;
    } else {
        /* .npy: magic, version, little-endian header length, then a Python
         * dict literal with descr, fortran_order and shape. */
        unsigned char pre[10];
        if (fread(pre, 1, 10, f) != 10 || memcmp(pre, "\x93NUMPY", 6) != 0) {
            fprintf(stderr, "%s: not a .npy file\n", path); exit(2);
        }
        unsigned long hlen;
        if (pre[6] == 1) {
            hlen = pre[8] | (pre[9] << 8);
        } else {
            unsigned char b2[2];
            if (fread(b2, 1, 2, f) != 2) { fprintf(stderr, "short header\n"); exit(2); }
            hlen = pre[8] | (pre[9] << 8) | ((unsigned long)b2[0] << 16) | ((unsigned long)b2[1] << 24);
        }
        char *hdr = xcalloc(hlen + 1, 1);
        if (fread(hdr, 1, hlen, f) != hlen) { fprintf(stderr, "short header\n"); exit(2); }
        if (!strstr(hdr, "'descr': '<i4'") || !strstr(hdr, "'fortran_order': False")) {
            fprintf(stderr, "%s: need C-order little-endian int32, header %s\n", path, hdr); exit(2);
        }
        char *s = strstr(hdr, "'shape': (");
        long cols = 0;
        if (!s || sscanf(s, "'shape': (%ld, %ld)", &n, &cols) != 2 || cols != 2) {
            fprintf(stderr, "%s: need shape (n, 2), header %s\n", path, hdr); exit(2);
        }
        free(hdr);
    }
    int32_t *ev = malloc((size_t)n * 2 * sizeof(int32_t));
    if (!ev && n) { perror("malloc"); exit(2); }
    if (fread(ev, sizeof(int32_t), (size_t)n * 2, f) != (size_t)n * 2) {
        fprintf(stderr, "%s: truncated\n", path); exit(2);
    }
    fclose(f);
    *n_out = n;
    return ev;   /* assumes a little-endian host */
}

/* Peak resident set of this process image, in KiB.  VmHWM from
 * /proc/self/status is preferred: getrusage's ru_maxrss survives execve, so
 * when we are started from a large parent (a Python driver holding the
 * events) it would report the parent's peak instead of ours. */
static long peak_rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    if (f) {
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
                break;
        fclose(f);
    }
    if (kb < 0) {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        kb = ru.ru_maxrss;
    }
    return kb;
}

int main(int argc, char **argv)
{
    const char *path = NULL;
    long pages = 1L << 20;
    int raw = 0, check = 0, npos = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--raw")) raw = 1;
        else if (!strcmp(argv[i], "--check")) check = 1;
        else if (npos == 0) { path = argv[i]; npos++; }
        else if (npos == 1) { pages = strtol(argv[i], NULL, 0); npos++; }
        else { fprintf(stderr, "too many arguments\n"); return 2; }
    }
    if (!path) {
        fprintf(stderr, "usage: %s [--raw] [--check] EVENTS [zone_pages]\n", argv[0]);
        return 2;
    }
    if (pages <= 0 || pages % (1L << (MAX_ORDER - 1)) || pages > (1L << 30)) {
        fprintf(stderr, "zone_pages must be a positive multiple of %d\n", 1 << (MAX_ORDER - 1));
        return 2;
    }

    long n;
    int32_t *ev = load_events(path, raw, &n);
    int32_t *pfn_of_id = malloc((size_t)(n ? n : 1) * sizeof(int32_t));
    if (!pfn_of_id) { perror("malloc"); return 2; }
    /* Touch pfn_of_id before timing so its page faults are not counted. */
    memset(pfn_of_id, 0xff, (size_t)(n ? n : 1) * sizeof(int32_t));
    zone_init((int32_t)pages);

    uint64_t checksum = 0;
    long failures = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long i = 0; i < n; i++) {
        int32_t kind = ev[2 * i], arg = ev[2 * i + 1];
        if (kind == 0) {
            int32_t pfn = alloc_pages(arg, MT_MOVABLE);
            pfn_of_id[i] = pfn;
            if (pfn >= 0)
                checksum += (uint64_t)pfn * 31u + (uint64_t)arg;
            else
                failures++;
        } else {
            int32_t pfn = pfn_of_id[arg];
            if (pfn >= 0)
                free_pages(pfn, ev[2 * arg + 1]);
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ns = (double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec);

    int bad = check ? check_zone(pfn_of_id, ev, n) : 0;

    /* per-page state: next + prev (int32), order, flags, freepage mt (1 byte
     * each); pageblock types and list heads are not per page. */
    int bytes_per_page = (int)(sizeof *lnext + sizeof *lprev + sizeof *porder +
                               sizeof *pflags + sizeof *freepage_mt);

    printf("{\"events\": %ld, \"zone_pages\": %ld, \"ns_per_event\": %.3f, "
           "\"checksum\": %llu, \"failures\": %ld, \"nr_free\": [",
           n, pages, n ? ns / (double)n : 0.0,
           (unsigned long long)checksum, failures);
    for (int o = 0; o < MAX_ORDER; o++)
        printf("%s%ld", o ? ", " : "", nr_free[o]);
    printf("], \"free_pages\": %ld, \"bytes_per_page\": %d, \"peak_rss_kb\": %ld",
           nr_free_pages, bytes_per_page, peak_rss_kb());
    if (check)
        printf(", \"check\": \"%s\"", bad ? "FAILED" : "ok");
    printf("}\n");
    return bad ? 1 : 0;
}
