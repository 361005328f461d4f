// gmem_shared_host: the host kernel's share of foliosim's
// `gmem-convert-1m-separate-shared` benchmark. In that design the guest's
// shared pages live in a separate memfd that the VMM maps; each pair of
// conversions of a random 4 KiB page costs, besides KVM's own work, one
// shmem fault of that page in the VMM's mapping (the guest's re-fault goes
// through hva_to_pfn, a GUP fault on it) and one hole punch of it (the VMM's
// discard when the page goes back to private: unmap, then truncate).
//
// This program does exactly that host part on the host's own kernel: a
// 1 TiB memfd mapped MAP_SHARED, and for each of N cycles a read of one
// byte of a random page (a shmem read fault: folio allocation, page-cache
// insertion, a PTE table for a 2 MiB region not touched before) followed by
// fallocate(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE) of that page. The
// pages are drawn as the benchmark draws them (xorshift32 from the same
// seed), so the page tables spread the same way. Nothing of KVM runs: the
// real kernel's rate for the whole cycle can only be lower than this.
// hostbench.c (../shared/hostbench) has no such workload.
//
// Build: gcc -O2 -o /tmp/gmem_shared_host bench/gmem_shared_host.c
// Run:   /tmp/gmem_shared_host [conversions]   (default 1,000,000: 500,000 cycles)
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096UL
#define GIB (1UL << 30)
#define SIZE (1024 * GIB)

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
	long conversions = argc > 1 ? atol(argv[1]) : 1000000;
	int fd = memfd_create("shared", 0);
	if (fd < 0 || ftruncate(fd, SIZE)) { perror("memfd"); return 1; }
	char *p = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
	if (p == MAP_FAILED) { perror("mmap"); return 1; }
	uint32_t seed = 0x9e3779b9;
	const double npages = SIZE / PAGE;
	volatile char sink = 0;
	double t = now();
	for (long i = 0; i < conversions; i += 2) {
		seed ^= seed << 13;
		seed ^= seed >> 17;
		seed ^= seed << 5;
		unsigned long page = (unsigned long)((seed / 4294967296.0) * npages);
		sink += p[page * PAGE];
		if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, page * PAGE, PAGE)) { perror("fallocate"); return 1; }
	}
	t = now() - t;
	printf("gmem-shared-host: %ld cycles (fault + punch) in %.3f s: %.0f cycles/s, %.0f conversions/s\n",
	       conversions / 2, t, conversions / 2 / t, conversions / t);
	return 0;
}
