// mthp_host: the host kernel's side of foliosim's `fault-mthp-64k` benchmark:
// 64 KiB mTHP anonymous write faults (one byte written per 64 KiB of fresh
// private anonymous memory, so every fault allocates, zeroes and maps a
// 64 KiB folio with 16 PTEs). hostbench.c (../shared/hostbench) has no such
// workload.
//
// It needs /sys/kernel/mm/transparent_hugepage/hugepages-64kB/enabled set to
// "always" (and the PMD size not "always" for this mapping: the region is
// not madvised, so "inherit" under a top-level "madvise" or "never" keeps
// PMD THPs out). It reports how many 64 KiB folios the host allocated
// meanwhile (hugepages-64kB/stats/anon_fault_alloc, a global counter: other
// processes' 64 KiB faults count too).
//
// Build: gcc -O2 -o /tmp/mthp_host bench/mthp_host.c
// Run:   /tmp/mthp_host [GiB]      (default 1 GiB)
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

#define PAGE 4096UL
#define MTHP (64UL << 10)
#define GIB (1UL << 30)
#define STAT "/sys/kernel/mm/transparent_hugepage/hugepages-64kB/stats/anon_fault_alloc"

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

static long read_stat(void)
{
	long v = -1;
	FILE *f = fopen(STAT, "r");
	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

int main(int argc, char **argv)
{
	size_t len = (argc > 1 ? strtoul(argv[1], NULL, 10) : 1) * GIB;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) { perror("mmap"); return 1; }
	long before = read_stat();
	double t = now();
	for (size_t o = 0; o < len; o += MTHP)
		p[o] = 1;
	t = now() - t;
	long folios = read_stat() - before;
	printf("fault-mthp-64k %.0f faults/s (%.3f s for %zu MiB; %ld 64 KiB folios allocated, %zu expected)\n",
	       (len / MTHP) / t, t, len >> 20, folios, len / MTHP);
	return 0;
}
