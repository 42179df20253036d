// first-calls: the order in which a program's functions run for the first time, for the linker's
// symbol ordering file (scripts/record-function-order.sh, issue 14: idle RSS).
//
//   first-calls SYMBOLS SECONDS OUT -- PROGRAM [ARGS...]
//
// SYMBOLS lists the functions to watch, one "hexaddress name" a line (addresses as the program runs:
// a position-dependent executable, `-no-pie`). The program starts under ptrace with a breakpoint
// (int3) on the first byte of every listed function, written through /proc/PID/mem. When a thread
// stops on one, the function's names are recorded, its byte restored and the thread resumed at the
// function's start: each function costs one stop, the first time any thread calls it. After SECONDS
// "hexaddress name" lines (one per name) are written to OUT in that order and the program is killed.
//
// Why breakpoints and not sampling or single-stepping: the ordering must hold every function start-up
// runs, however short (a sampled profile misses most), and start-up must run at close to full speed
// (io_uring set-up, timers). valgrind and callgrind stop at the io_uring set-up.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct function {
    uint64_t address;
    char *names;        // every name at this address, '\n'-separated
    unsigned char byte; // the original first byte
    int hit;
};

static struct function *functions;
static size_t count;
static volatile sig_atomic_t expired;

static int by_address(const void *a, const void *b) {
    uint64_t x = ((const struct function *)a)->address, y = ((const struct function *)b)->address;
    return x < y ? -1 : x > y;
}

static struct function *lookup(uint64_t address) {
    struct function key = {.address = address};
    return bsearch(&key, functions, count, sizeof key, by_address);
}

static void load(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) { perror(path); exit(2); }
    size_t capacity = 1 << 16;
    functions = malloc(capacity * sizeof *functions);
    char line[8192];
    while (fgets(line, sizeof line, f)) {
        char *name;
        uint64_t address = strtoull(line, &name, 16);
        name += strspn(name, " \t");
        name[strcspn(name, "\n")] = 0;
        if (!address || !*name) continue;
        if (count == capacity) functions = realloc(functions, (capacity *= 2) * sizeof *functions);
        functions[count++] = (struct function){.address = address, .names = strdup(name)};
    }
    fclose(f);
    qsort(functions, count, sizeof *functions, by_address);
    // Aliases (several names at one address) become one entry with all names.
    size_t kept = 0;
    for (size_t i = 0; i < count; i++) {
        if (kept && functions[kept - 1].address == functions[i].address) {
            struct function *f = &functions[kept - 1];
            size_t n = strlen(f->names), m = strlen(functions[i].names);
            f->names = realloc(f->names, n + m + 2);
            f->names[n] = '\n';
            memcpy(f->names + n + 1, functions[i].names, m + 1);
            free(functions[i].names);
        } else {
            functions[kept++] = functions[i];
        }
    }
    count = kept;
}

static void on_alarm(int sig) { (void)sig; expired = 1; }

int main(int argc, char **argv) {
    if (argc < 6 || strcmp(argv[4], "--") != 0) {
        fprintf(stderr, "usage: first-calls SYMBOLS SECONDS OUT -- PROGRAM [ARGS...]\n");
        return 2;
    }
    load(argv[1]);
    unsigned seconds = (unsigned)atoi(argv[2]);
    pid_t child = fork();
    if (child == 0) {
        ptrace(PTRACE_TRACEME, 0, 0, 0);
        execv(argv[5], argv + 5);
        perror(argv[5]);
        _exit(127);
    }
    int status;
    if (waitpid(child, &status, 0) < 0 || !WIFSTOPPED(status)) { fprintf(stderr, "first-calls: exec failed\n"); return 1; }
    ptrace(PTRACE_SETOPTIONS, child, 0, PTRACE_O_TRACECLONE | PTRACE_O_EXITKILL);

    char path[64];
    snprintf(path, sizeof path, "/proc/%d/mem", child);
    int mem = open(path, O_RDWR);
    if (mem < 0) { perror(path); return 1; }
    const unsigned char int3 = 0xCC;
    size_t armed = 0;
    for (size_t i = 0; i < count; i++) {
        if (pread(mem, &functions[i].byte, 1, (off_t)functions[i].address) != 1) continue;
        if (pwrite(mem, &int3, 1, (off_t)functions[i].address) != 1) continue;
        armed++;
    }
    fprintf(stderr, "first-calls: %zu of %zu functions armed\n", armed, count);

    struct sigaction sa = {.sa_handler = on_alarm}; // no SA_RESTART: waitpid returns EINTR
    sigaction(SIGALRM, &sa, 0);
    alarm(seconds);
    size_t *order = malloc(count * sizeof *order), hits = 0;
    ptrace(PTRACE_CONT, child, 0, 0);
    while (!expired) {
        pid_t tid = waitpid(-1, &status, __WALL);
        if (tid < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (WIFEXITED(status) || WIFSIGNALED(status)) {
            if (tid == child) { fprintf(stderr, "first-calls: the program ended early (status %#x)\n", status); break; }
            continue;
        }
        if (!WIFSTOPPED(status)) continue;
        int sig = WSTOPSIG(status), event = status >> 16, deliver = 0;
        if (event == PTRACE_EVENT_CLONE || sig == SIGSTOP) {
            deliver = 0; // a new thread's first stop, or the clone event of its parent
        } else if (sig == SIGTRAP) {
            struct user_regs_struct regs;
            ptrace(PTRACE_GETREGS, tid, 0, &regs);
            struct function *f = lookup(regs.rip - 1);
            if (f) {
                if (!f->hit) {
                    f->hit = 1;
                    order[hits++] = (size_t)(f - functions);
                    pwrite(mem, &f->byte, 1, (off_t)f->address);
                }
                regs.rip = f->address; // another thread may have stopped on it before the restore
                ptrace(PTRACE_SETREGS, tid, 0, &regs);
            } else {
                deliver = sig;
            }
        } else {
            deliver = sig;
        }
        ptrace(PTRACE_CONT, tid, 0, deliver);
    }
    FILE *out = fopen(argv[3], "w");
    if (!out) { perror(argv[3]); return 1; }
    for (size_t i = 0; i < hits; i++) {
        const struct function *f = &functions[order[i]];
        for (const char *name = f->names; *name;) {
            size_t n = strcspn(name, "\n");
            fprintf(out, "%llx %.*s\n", (unsigned long long)f->address, (int)n, name);
            name += n + (name[n] == '\n');
        }
    }
    fclose(out);
    fprintf(stderr, "first-calls: %zu functions ran\n", hits);
    kill(child, SIGKILL);
    return 0;
}
