/* C reference for kmemsim's slab fast-path benchmark: kmalloc(64) + kfree pairs on one CPU.
 *
 * The same steps as kmemsim's compiled slab_alloc_node / slab_free fast paths (and SLUB's):
 * size -> kmalloc cache through the size_index table, pop the head of the CPU's lockless
 * freelist (the next pointer kept per object), advance the transaction id; kfree: the
 * object's page, its cache, "is it this CPU's slab?", push back, advance the tid.  One slab
 * of 64 objects is set up first, as the first kmalloc would.
 *
 *   slub_ref PAIRS   ->  {"pairs": N, "ns_per_pair": X, "checksum": C}
 */
#define _POSIX_C_SOURCE 199309L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define NPAGES 4096
static const int8_t size_index[24] = {3, 4, 5, 5, 6, 6, 6, 6, 1, 1, 1, 1,
                                      7, 7, 7, 7, 2, 2, 2, 2, 2, 2, 2, 2};
struct kmem_cache { int64_t size; int64_t cpu_freelist; int64_t cpu_page; int64_t tid; };
static struct kmem_cache caches[14];
static int16_t page_cache[NPAGES];      /* page->slab_cache */
static int32_t page_objbase[NPAGES];
static int32_t objnext[1 << 16];         /* free pointers */

static int kmalloc_index(int64_t size)
{
	if (size <= 192)
		return size_index[(size - 1) / 8];
	return 64 - __builtin_clzll((uint64_t)(size - 1));
}

static __attribute__((noinline)) int64_t kmalloc(int64_t size)
{
	struct kmem_cache *s = &caches[kmalloc_index(size)];
	int64_t obj = s->cpu_freelist, page = s->cpu_page;
	if (obj < 0)
		return -1;                       /* the slow path is not part of this benchmark */
	s->cpu_freelist = objnext[page_objbase[page] + obj];
	s->tid += 1;
	return (page << 12) + obj * s->size;
}

static __attribute__((noinline)) void kfree(int64_t x)
{
	int64_t page = x >> 12;
	struct kmem_cache *s = &caches[page_cache[page]];
	int64_t idx = (x - (page << 12)) / s->size;
	if (page == s->cpu_page) {
		objnext[page_objbase[page] + idx] = (int32_t)s->cpu_freelist;
		s->cpu_freelist = idx;
		s->tid += 1;
	}
}

int main(int argc, char **argv)
{
	long pairs = argc > 1 ? atol(argv[1]) : 10000000;
	struct timespec t0, t1;
	int64_t sum = 0;
	int i;

	for (i = 0; i < 14; i++) {
		caches[i].size = i > 2 ? 1 << i : (i == 1 ? 96 : 192);
		caches[i].cpu_freelist = -1;
		caches[i].cpu_page = -1;
	}
	page_cache[1000] = 6;                    /* one slab of kmalloc-64 at page 1000 */
	page_objbase[1000] = 0;
	for (i = 0; i < 63; i++)
		objnext[i] = i + 1;
	objnext[63] = -1;
	caches[6].cpu_freelist = 0;
	caches[6].cpu_page = 1000;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long n = 0; n < pairs; n++) {
		int64_t x = kmalloc(64);
		sum += x;
		kfree(x);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double ns = (t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec);
	printf("{\"pairs\": %ld, \"ns_per_pair\": %.3f, \"checksum\": %lld}\n", pairs,
	       ns / pairs, (long long)sum);
	return 0;
}
