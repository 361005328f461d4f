// swap_host: the host kernel's side of foliosim's `swapout-swapin-1g`
// benchmark: fill N GiB of private anonymous memory (4 KiB pages: the
// region is MADV_NOHUGEPAGE), MADV_PAGEOUT all of it, then read one byte of
// every page so do_swap_page brings it back. hostbench.c
// (../shared/hostbench) has no such workload.
//
// It needs swap on (swapon; the selftest runs used a zram device). Without
// swap MADV_PAGEOUT swaps nothing: the program says so (pswpout from
// /proc/vmstat did not move) and exits 2 instead of printing a figure.
//
// Build: gcc -O2 -o /tmp/swap_host bench/swap_host.c
// Run:   /tmp/swap_host [GiB]      (default 1 GiB)
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif

#define PAGE 4096UL
#define GIB (1UL << 30)

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

// One counter of /proc/vmstat, or -1.
static long vmstat(const char *name)
{
	char key[64];
	long v;
	FILE *f = fopen("/proc/vmstat", "r");
	if (!f)
		return -1;
	while (fscanf(f, "%63s %ld", key, &v) == 2) {
		if (!strcmp(key, name)) {
			fclose(f);
			return v;
		}
	}
	fclose(f);
	return -1;
}

int main(int argc, char **argv)
{
	size_t len = (argc > 1 ? strtoul(argv[1], NULL, 0) : 1) * GIB;
	volatile char *a = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (a == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	madvise((void *)a, len, MADV_NOHUGEPAGE);
	memset((void *)a, 1, len);
	long out0 = vmstat("pswpout"), in0 = vmstat("pswpin");
	double t0 = now();
	if (madvise((void *)a, len, MADV_PAGEOUT)) {
		perror("madvise(MADV_PAGEOUT)");
		return 1;
	}
	long sum = 0;
	for (size_t off = 0; off < len; off += PAGE)
		sum += a[off];
	double t1 = now();
	long out = vmstat("pswpout") - out0, in = vmstat("pswpin") - in0;
	if (out <= 0) {
		printf("swapout-swapin-1g: MADV_PAGEOUT swapped nothing (pswpout +%ld): is swap on?\n", out);
		return 2;
	}
	printf("swapout-swapin-1g %.3f s for %zu MiB (pswpout +%ld, pswpin +%ld, %zu pages; sum %ld)\n", t1 - t0, len >> 20, out, in, len / PAGE, sum);
	return 0;
}
