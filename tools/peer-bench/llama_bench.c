// Minimal prompt-processing / generation benchmark against llama.cpp's C API.
//
// Mirrors what llama-bench measures for "pp<N>" and "tg<N>" tests:
//   pp: llama_decode of N random tokens (first one BOS) in batches of n_batch,
//       on an empty KV cache; tokens/s = N / time.
//   tg: N single-token llama_decode calls on an empty KV cache (first token
//       BOS, then random tokens), synchronizing after each; tokens/s = N / time.
// Each repetition clears the KV cache first. One untimed warmup pp run and one
// single-token gen warmup precede the timed repetitions, as in llama-bench.
// A CPU threadpool with the given thread count is attached, as in llama-bench
// (polling level 50, the llama-bench default).
//
// With -P, the tg test also pairs every generated token with a plain read of the
// model file's mapping (the pages llama.cpp decodes from) by THREADS threads,
// taken right after the token with llama.cpp's threadpool paused, and reports
// the median over tokens of (model bytes / token time) / (that read): the same
// measure as `mii bench`, whose reads also follow each decode step. A machine
// whose bandwidth moves from second to second (a VM) makes a read taken apart
// from the run meaningless as a reference.
//
// Build: see run.sh (gcc against llama.h / ggml headers from the llama.cpp
// sources and the prebuilt shared libraries).

#define _GNU_SOURCE // dl_iterate_phdr

#include "llama.h"
#include "ggml.h"
#include "ggml-backend.h"
#include "ggml-cpu.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int quiet_log = 1;

static void log_cb(enum ggml_log_level level, const char * text, void * user) {
    static enum ggml_log_level last = GGML_LOG_LEVEL_INFO;
    (void) user;
    if (level == GGML_LOG_LEVEL_CONT) {
        level = last; // continuation of the previous message
    } else {
        last = level;
    }
    // keep errors, warnings and the line naming the CPU backend variant that was loaded
    if (!quiet_log || level >= GGML_LOG_LEVEL_WARN || strstr(text, "loaded CPU backend") != NULL) {
        fputs(text, stderr);
    }
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec * 1e-9;
}

static int cmp_double(const void * a, const void * b) {
    double x = *(const double *) a, y = *(const double *) b;
    return (x > y) - (x < y);
}

static double median(double * v, int n) {
    qsort(v, (size_t) n, sizeof(double), cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static unsigned int rng_state = 42;

static llama_token rand_token(int n_vocab) {
    rng_state = rng_state * 1103515245u + 12345u;
    return (llama_token) ((rng_state >> 1) % (unsigned int) n_vocab);
}

static int run_prompt(struct llama_context * ctx, const struct llama_vocab * vocab, int n_prompt, int n_batch) {
    const int n_vocab = llama_vocab_n_tokens(vocab);
    llama_token * tokens = malloc(sizeof(llama_token) * (size_t) n_batch);
    int done = 0;
    while (done < n_prompt) {
        int n = n_prompt - done < n_batch ? n_prompt - done : n_batch;
        tokens[0] = done == 0 && llama_vocab_get_add_bos(vocab) ? llama_vocab_bos(vocab) : rand_token(n_vocab);
        for (int i = 1; i < n; i++) {
            tokens[i] = rand_token(n_vocab);
        }
        int rc = llama_decode(ctx, llama_batch_get_one(tokens, n));
        if (rc != 0) {
            fprintf(stderr, "prompt decode failed: %d\n", rc);
            free(tokens);
            return 1;
        }
        done += n;
    }
    llama_synchronize(ctx);
    free(tokens);
    return 0;
}

// --- paired reads (-P) -------------------------------------------------------

typedef struct {
    const uint64_t * p;
    size_t n;
    uint64_t sum;
} read_slice_t;

static void * read_slice(void * arg) {
    read_slice_t * r = arg;
    uint64_t s = 0; // integer adds reassociate, so this vectorizes with several accumulators
    for (size_t i = 0; i < r->n; i++) {
        s += r->p[i];
    }
    r->sum += s;
    return NULL;
}

static const uint64_t * file_words; // the model file's mapping
static size_t file_word_count;
static uint64_t read_checksum;

static int map_file(const char * path) {
    int fd = open(path, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        perror(path);
        return 1;
    }
    void * m = mmap(NULL, (size_t) st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (m == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    file_words = m;
    file_word_count = ((size_t) st.st_size & ~(size_t) 63) / sizeof(uint64_t);
    return 0;
}

// One read of the whole mapping by n_threads threads; returns GB/s.
static double read_file_gbs(int n_threads) {
    read_slice_t rs[64];
    pthread_t tid[64];
    if (n_threads > 64) n_threads = 64;
    size_t per = file_word_count / (size_t) n_threads;
    double t0 = now_s();
    for (int t = 0; t < n_threads; t++) {
        rs[t].p = file_words + (size_t) t * per;
        rs[t].n = t == n_threads - 1 ? file_word_count - (size_t) t * per : per;
        rs[t].sum = 0;
        pthread_create(&tid[t], NULL, read_slice, &rs[t]);
    }
    for (int t = 0; t < n_threads; t++) {
        pthread_join(tid[t], NULL);
        read_checksum += rs[t].sum;
    }
    return (double) (file_word_count * sizeof(uint64_t)) / (now_s() - t0) / 1e9;
}

typedef void (*tp_pause_fn)(struct ggml_threadpool *);

// ggml_threadpool_pause/resume live in the CPU backend library that ggml loaded with
// dlopen (a variant such as libggml-cpu-zen4.so), which does not offer them through
// ggml_backend_reg_get_proc_address: look them up in that loaded library.
static void * cpu_lib_symbol_result;
static const char * cpu_lib_symbol_name;

static int find_in_cpu_lib(struct dl_phdr_info * info, size_t size, void * data) {
    (void) size;
    (void) data;
    if (info->dlpi_name && strstr(info->dlpi_name, "libggml-cpu")) {
        void * h = dlopen(info->dlpi_name, RTLD_LAZY | RTLD_NOLOAD);
        if (h) {
            cpu_lib_symbol_result = dlsym(h, cpu_lib_symbol_name);
            dlclose(h);
            if (cpu_lib_symbol_result) return 1;
        }
    }
    return 0;
}

static void * cpu_lib_symbol(const char * name) {
    void * direct = dlsym(RTLD_DEFAULT, name);
    if (direct) return direct;
    cpu_lib_symbol_name = name;
    cpu_lib_symbol_result = NULL;
    dl_iterate_phdr(find_in_cpu_lib, NULL);
    return cpu_lib_symbol_result;
}

// tg with a read after every token; fills frac[i], reads[i] for tokens 1..n_gen-1.
static int run_gen_paired(struct llama_context * ctx, const struct llama_vocab * vocab, int n_gen, int n_threads,
                          double weight_bytes, struct ggml_threadpool * tp, tp_pause_fn pause, tp_pause_fn resume,
                          double * frac, double * reads) {
    const int n_vocab = llama_vocab_n_tokens(vocab);
    llama_token tok = llama_vocab_get_add_bos(vocab) ? llama_vocab_bos(vocab) : rand_token(n_vocab);
    for (int i = 0; i < n_gen; i++) {
        double t0 = now_s();
        int rc = llama_decode(ctx, llama_batch_get_one(&tok, 1));
        if (rc != 0) {
            fprintf(stderr, "generation decode failed: %d\n", rc);
            return 1;
        }
        llama_synchronize(ctx);
        double dt = now_s() - t0;
        if (tp && pause) pause(tp); // its polling threads would otherwise compete with the read
        double gbs = read_file_gbs(n_threads);
        if (tp && resume) resume(tp);
        if (i > 0) {
            reads[i - 1] = gbs;
            frac[i - 1] = weight_bytes / dt / 1e9 / gbs;
        }
        tok = rand_token(n_vocab);
    }
    return 0;
}

static int run_gen(struct llama_context * ctx, const struct llama_vocab * vocab, int n_gen) {
    const int n_vocab = llama_vocab_n_tokens(vocab);
    llama_token tok = llama_vocab_get_add_bos(vocab) ? llama_vocab_bos(vocab) : rand_token(n_vocab);
    for (int i = 0; i < n_gen; i++) {
        int rc = llama_decode(ctx, llama_batch_get_one(&tok, 1));
        if (rc != 0) {
            fprintf(stderr, "generation decode failed: %d\n", rc);
            return 1;
        }
        llama_synchronize(ctx);
        tok = rand_token(n_vocab);
    }
    return 0;
}

static void usage(const char * argv0) {
    fprintf(stderr,
            "usage: %s -m MODEL.gguf [-B BACKEND_DIR] [-t THREADS] [-p N_PROMPT] [-n N_GEN] [-r REPS]\n"
            "          [-b N_BATCH] [-ub N_UBATCH] [-fa auto|on|off] [-P 0|1] [-v]\n"
            "defaults: -t 2 -p 512 -n 64 -r 3 -b 2048 -ub 512 -fa auto\n", argv0);
}

int main(int argc, char ** argv) {
    const char * model_path = NULL;
    const char * backend_dir = NULL;
    int n_threads = 2, n_prompt = 512, n_gen = 64, reps = 3, n_batch = 2048, n_ubatch = 512, paired = 0;
    enum llama_flash_attn_type fa = LLAMA_FLASH_ATTN_TYPE_AUTO;

    for (int i = 1; i < argc; i++) {
        const char * a = argv[i];
        const char * v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-v")) { quiet_log = 0; continue; }
        if (!v) { usage(argv[0]); return 2; }
        if      (!strcmp(a, "-m"))  model_path = v;
        else if (!strcmp(a, "-B"))  backend_dir = v;
        else if (!strcmp(a, "-t"))  n_threads = atoi(v);
        else if (!strcmp(a, "-p"))  n_prompt = atoi(v);
        else if (!strcmp(a, "-n"))  n_gen = atoi(v);
        else if (!strcmp(a, "-r"))  reps = atoi(v);
        else if (!strcmp(a, "-b"))  n_batch = atoi(v);
        else if (!strcmp(a, "-ub")) n_ubatch = atoi(v);
        else if (!strcmp(a, "-P"))  paired = atoi(v);
        else if (!strcmp(a, "-fa")) fa = !strcmp(v, "on") ? LLAMA_FLASH_ATTN_TYPE_ENABLED
                                       : !strcmp(v, "off") ? LLAMA_FLASH_ATTN_TYPE_DISABLED
                                       : LLAMA_FLASH_ATTN_TYPE_AUTO;
        else { usage(argv[0]); return 2; }
        i++;
    }
    if (!model_path || reps < 1 || n_threads < 1) { usage(argv[0]); return 2; }

    llama_log_set(log_cb, NULL);
    if (backend_dir) {
        ggml_backend_load_all_from_path(backend_dir);
    } else {
        ggml_backend_load_all();
    }
    llama_backend_init();

    ggml_backend_dev_t cpu_dev = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU);
    if (!cpu_dev) {
        fprintf(stderr, "no CPU backend loaded (use -B with the directory holding libggml-cpu-*.so)\n");
        return 1;
    }
    ggml_backend_reg_t cpu_reg = ggml_backend_dev_backend_reg(cpu_dev);
    typedef struct ggml_threadpool * (*tp_new_fn)(struct ggml_threadpool_params *);
    typedef void (*tp_free_fn)(struct ggml_threadpool *);
    tp_new_fn tp_new = (tp_new_fn) ggml_backend_reg_get_proc_address(cpu_reg, "ggml_threadpool_new");
    tp_free_fn tp_free = (tp_free_fn) ggml_backend_reg_get_proc_address(cpu_reg, "ggml_threadpool_free");
    tp_pause_fn tp_pause = (tp_pause_fn) cpu_lib_symbol("ggml_threadpool_pause");
    tp_pause_fn tp_resume = (tp_pause_fn) cpu_lib_symbol("ggml_threadpool_resume");

    printf("system_info: %s\n", llama_print_system_info());

    struct llama_model_params mp = llama_model_default_params();
    struct llama_model * model = llama_model_load_from_file(model_path, mp);
    if (!model) {
        fprintf(stderr, "failed to load %s\n", model_path);
        return 1;
    }
    const struct llama_vocab * vocab = llama_model_get_vocab(model);
    char desc[256];
    llama_model_desc(model, desc, sizeof desc);
    printf("model: %s | %.2f GiB | %.3f B params\n", desc, (double) llama_model_size(model) / (1024.0 * 1024 * 1024),
           (double) llama_model_n_params(model) / 1e9);
    printf("threads: %d | n_batch %d | n_ubatch %d | flash_attn %s | reps %d\n", n_threads, n_batch, n_ubatch,
           fa == LLAMA_FLASH_ATTN_TYPE_AUTO ? "auto" : fa == LLAMA_FLASH_ATTN_TYPE_ENABLED ? "on" : "off", reps);

    // one context per test, sized like llama-bench does (n_ctx = n_prompt + n_gen of that test)
    for (int test = 0; test < 2; test++) {
        const int is_pp = test == 0;
        const int n = is_pp ? n_prompt : n_gen;
        if (n <= 0) continue;

        struct llama_context_params cp = llama_context_default_params();
        cp.n_ctx = (uint32_t) n;
        cp.n_batch = (uint32_t) n_batch;
        cp.n_ubatch = (uint32_t) n_ubatch;
        cp.n_threads = n_threads;
        cp.n_threads_batch = n_threads;
        cp.flash_attn_type = fa;
        struct llama_context * ctx = llama_init_from_model(model, cp);
        if (!ctx) {
            fprintf(stderr, "failed to create context\n");
            return 1;
        }

        struct ggml_threadpool * tp = NULL;
        if (tp_new) {
            struct ggml_threadpool_params tpp = ggml_threadpool_params_default(n_threads);
            tpp.poll = 50;
            tp = tp_new(&tpp);
            if (tp) llama_attach_threadpool(ctx, tp, NULL);
        }
        llama_set_n_threads(ctx, n_threads, n_threads);

        // warmup, as llama-bench: full prompt for pp, one token for tg
        llama_memory_clear(llama_get_memory(ctx), false);
        if (is_pp ? run_prompt(ctx, vocab, n, n_batch) : run_gen(ctx, vocab, 1)) return 1;

        double * tps = malloc(sizeof(double) * (size_t) reps);
        printf("%s%d runs:", is_pp ? "pp" : "tg", n);
        for (int r = 0; r < reps; r++) {
            llama_memory_clear(llama_get_memory(ctx), false);
            double t0 = now_s();
            if (is_pp ? run_prompt(ctx, vocab, n, n_batch) : run_gen(ctx, vocab, n)) return 1;
            double dt = now_s() - t0;
            tps[r] = n / dt;
            printf(" %.2f", tps[r]);
            fflush(stdout);
        }
        printf(" t/s\n");
        printf("RESULT %s%d %.2f t/s (median of %d)\n", is_pp ? "pp" : "tg", n, median(tps, reps), reps);
        fflush(stdout);
        free(tps);

        if (!is_pp && paired && n > 4) {
            if (map_file(model_path)) return 1;
            read_file_gbs(n_threads); // fault the mapping in
            double * frac = malloc(sizeof(double) * (size_t) n);
            double * reads = malloc(sizeof(double) * (size_t) n);
            llama_memory_clear(llama_get_memory(ctx), false);
            double weight_bytes = (double) llama_model_size(model);
            if (run_gen_paired(ctx, vocab, n, n_threads, weight_bytes, tp, tp_pause, tp_resume, frac, reads)) return 1;
            int m = n - 1;
            double read_median = median(reads, m);
            qsort(frac, (size_t) m, sizeof(double), cmp_double);
            printf("RESULT tg%d_paired %.1f %% of the read (quartiles %.1f-%.1f; median read %.1f GB/s of the model"
                   " file's pages, right after each of %d tokens; %.3f GB of weights per token%s)\n", n,
                   100 * median(frac, m), 100 * frac[m / 4], 100 * frac[3 * m / 4], read_median, m, weight_bytes / 1e9,
                   tp && tp_pause ? "" : "; threadpool not paused during reads");
            fflush(stdout);
            free(frac);
            free(reads);
        }

        llama_detach_threadpool(ctx);
        if (tp && tp_free) tp_free(tp);
        llama_free(ctx);
    }

    llama_model_free(model);
    llama_backend_free();
    return 0;
}
