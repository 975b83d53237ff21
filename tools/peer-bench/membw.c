// Read memory bandwidth: N threads sum disjoint slices of one large buffer.
// Reports the best of R passes in GB/s (1 GB = 1e9 bytes).
//
// usage: membw [threads=2] [size_mib=2048] [passes=5] [file]
// With a file, the file is memory-mapped read-only and its pages are read instead of a fresh
// buffer (size_mib is ignored): the roofline for an engine that reads that file's mapping, since
// on some machines (VMs) page-cache pages read slower than freshly allocated memory.
// Build: gcc -O3 -march=native -pthread membw.c -o membw

#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    const uint64_t * p;
    size_t n;
    uint64_t sum;
    pthread_barrier_t * start;
    pthread_barrier_t * stop;
    int passes;
} job_t;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec * 1e-9;
}

static uint64_t sum_slice(const uint64_t * p, size_t n) {
    // integer adds reassociate freely, so the compiler vectorizes this with
    // several independent accumulators
    uint64_t s = 0;
    for (size_t i = 0; i < n; i++) {
        s += p[i];
    }
    return s;
}

static void * worker(void * arg) {
    job_t * j = arg;
    for (int r = 0; r < j->passes; r++) {
        pthread_barrier_wait(j->start);
        j->sum += sum_slice(j->p, j->n);
        pthread_barrier_wait(j->stop);
    }
    return NULL;
}

int main(int argc, char ** argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 2;
    size_t mib = argc > 2 ? (size_t) atol(argv[2]) : 2048;
    int passes = argc > 3 ? atoi(argv[3]) : 5;
    if (threads < 1 || mib < 1 || passes < 1) {
        fprintf(stderr, "usage: %s [threads] [size_mib] [passes]\n", argv[0]);
        return 2;
    }

    size_t bytes = mib << 20;
    uint64_t * buf;
    const char * file = argc > 4 ? argv[4] : NULL;
    if (file) {
        int fd = open(file, O_RDONLY);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) != 0) {
            perror(file);
            return 1;
        }
        bytes = (size_t) st.st_size & ~(size_t) 63;
        buf = mmap(NULL, (size_t) st.st_size, PROT_READ, MAP_SHARED, fd, 0);
        if (buf == MAP_FAILED) {
            perror("mmap");
            return 1;
        }
        close(fd);
    } else {
        buf = aligned_alloc(4096, bytes);
        if (!buf) {
            perror("aligned_alloc");
            return 1;
        }
    }
    size_t n = bytes / sizeof(uint64_t);
    if (!file) {
        for (size_t i = 0; i < n; i++) {
            buf[i] = i * 0x9E3779B97F4A7C15ull; // touch every page, non-zero data
        }
    } else {
        uint64_t warm = 0; // fault the pages in before timing
        for (size_t i = 0; i < n; i += 512) {
            warm += buf[i];
        }
        if (warm == 42) {
            printf(" ");
        }
    }

    pthread_barrier_t start, stop;
    pthread_barrier_init(&start, NULL, (unsigned) threads + 1);
    pthread_barrier_init(&stop, NULL, (unsigned) threads + 1);

    job_t * jobs = calloc((size_t) threads, sizeof(job_t));
    pthread_t * tids = calloc((size_t) threads, sizeof(pthread_t));
    size_t per = n / (size_t) threads;
    for (int t = 0; t < threads; t++) {
        jobs[t].p = buf + (size_t) t * per;
        jobs[t].n = t == threads - 1 ? n - (size_t) t * per : per;
        jobs[t].start = &start;
        jobs[t].stop = &stop;
        jobs[t].passes = passes;
        pthread_create(&tids[t], NULL, worker, &jobs[t]);
    }

    double best = 0.0;
    printf("membw: %d threads, %zu MiB %s, GB/s per pass:", threads, bytes >> 20, file ? file : "buffer");
    for (int r = 0; r < passes; r++) {
        pthread_barrier_wait(&start);
        double t0 = now_s();
        pthread_barrier_wait(&stop);
        double gbs = (double) bytes / (now_s() - t0) / 1e9;
        printf(" %.1f", gbs);
        if (gbs > best) best = gbs;
    }
    printf("\n");

    uint64_t check = 0;
    for (int t = 0; t < threads; t++) {
        pthread_join(tids[t], NULL);
        check += jobs[t].sum;
    }
    printf("RESULT membw %.1f GB/s (best of %d, checksum %016llx)\n", best, passes, (unsigned long long) check);
    if (!file) {
        free(buf);
    }
    return 0;
}
