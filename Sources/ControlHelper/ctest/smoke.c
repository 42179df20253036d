// smoke.c — loads libwirenetcontrol.so with dlopen, as the Swift side does, and drives its exports:
//   smoke LIB bad-config                         start with malformed JSON must fail with a message
//   smoke LIB unreachable URL STATEDIR            start, see "registering" then "reconnecting", stop
//   smoke LIB netmap URL AUTHKEY STATEDIR         start, see a netmap event and "running", update, stop
// After wn_control_stop returns no callback may run; the program checks that for a second.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../wirenet_control.h"

typedef int64_t (*start_fn)(const uint8_t *, int64_t, wn_event_fn, void *, uint8_t *, int64_t);
typedef int32_t (*update_fn)(int64_t, const uint8_t *, int64_t);
typedef int32_t (*logout_fn)(int64_t, int64_t, uint8_t *, int64_t);
typedef void (*stop_fn)(int64_t);

static atomic_int netmaps, registering, reconnecting, running, after_stop, stopped;
static char first_netmap[512];

static void on_event(void *context, int32_t kind, const uint8_t *json, int64_t length) {
    (void)context;
    if (atomic_load(&stopped)) atomic_fetch_add(&after_stop, 1);
    if (kind == WN_EVENT_NETMAP) {
        if (atomic_fetch_add(&netmaps, 1) == 0) {
            int64_t n = length < (int64_t)sizeof first_netmap - 1 ? length : (int64_t)sizeof first_netmap - 1;
            memcpy(first_netmap, json, (size_t)n);
            first_netmap[n] = 0;
        }
    } else if (kind == WN_EVENT_STATE) {
        if (memmem(json, (size_t)length, "\"registering\"", 13)) atomic_fetch_add(&registering, 1);
        if (memmem(json, (size_t)length, "\"reconnecting\"", 14)) atomic_fetch_add(&reconnecting, 1);
        if (memmem(json, (size_t)length, "\"running\"", 9)) atomic_fetch_add(&running, 1);
        fprintf(stderr, "smoke: state %.*s\n", (int)length, (const char *)json);
    }
}

static int wait_for(atomic_int *counter, int seconds) {
    for (int i = 0; i < seconds * 20; i++) {
        if (atomic_load(counter) > 0) return 1;
        usleep(50 * 1000);
    }
    return 0;
}

static void random_hex(char *out, int bytes) {
    FILE *f = fopen("/dev/urandom", "rb");
    for (int i = 0; i < bytes; i++) sprintf(out + 2 * i, "%02x", f ? fgetc(f) & 0xff : rand() & 0xff);
    if (f) fclose(f);
}

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: smoke LIB MODE ...\n"); return 2; }
    void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!lib) { fprintf(stderr, "smoke: dlopen: %s\n", dlerror()); return 1; }
    start_fn start = (start_fn)dlsym(lib, "wn_control_start");
    update_fn update = (update_fn)dlsym(lib, "wn_control_update");
    logout_fn logout = (logout_fn)dlsym(lib, "wn_control_logout");
    stop_fn stop = (stop_fn)dlsym(lib, "wn_control_stop");
    if (!start || !update || !logout || !stop) { fprintf(stderr, "smoke: missing export\n"); return 1; }
    uint8_t err[256] = {0};
    const char *mode = argv[2];

    if (strcmp(mode, "bad-config") == 0) {
        const char *bad = "{\"controlURL\": ";
        int64_t h = start((const uint8_t *)bad, (int64_t)strlen(bad), on_event, NULL, err, sizeof err);
        if (h != 0 || err[0] == 0) { fprintf(stderr, "smoke: bad config was accepted\n"); return 1; }
        printf("smoke: bad config refused: %s\n", (char *)err);
        if (update(12345, (const uint8_t *)"{}", 2) != -1) { fprintf(stderr, "smoke: update on a bad handle\n"); return 1; }
        if (logout(12345, 1000, err, sizeof err) != -1) { fprintf(stderr, "smoke: logout on a bad handle\n"); return 1; }
        stop(12345);
        return 0;
    }

    char nodekey[65], disco[65], config[2048];
    random_hex(nodekey, 32);
    random_hex(disco, 32);
    int netmap_mode = strcmp(mode, "netmap") == 0;
    if (netmap_mode && argc != 6) { fprintf(stderr, "usage: smoke LIB netmap URL AUTHKEY STATEDIR\n"); return 2; }
    if (!netmap_mode && (strcmp(mode, "unreachable") != 0 || argc != 5)) { fprintf(stderr, "usage: smoke LIB unreachable URL STATEDIR\n"); return 2; }
    snprintf(config, sizeof config,
             "{\"controlURL\": \"%s\", \"authKey\": \"%s\", \"hostname\": \"smoke\", \"stateDir\": \"%s\","
             " \"ephemeral\": true, \"nodeKey\": \"nodekey:%s\", \"discoKey\": \"discokey:%s\","
             " \"endpoints\": [\"127.0.0.1:41641\"], \"os\": \"linux\", \"appName\": \"smoke\"}",
             argv[3], netmap_mode ? argv[4] : "tskey-none", netmap_mode ? argv[5] : argv[4], nodekey, disco);
    int64_t h = start((const uint8_t *)config, (int64_t)strlen(config), on_event, NULL, err, sizeof err);
    if (h <= 0) { fprintf(stderr, "smoke: start failed: %s\n", (char *)err); return 1; }
    int ok = 1;
    if (netmap_mode) {
        if (!wait_for(&netmaps, 30)) { fprintf(stderr, "smoke: no netmap event\n"); ok = 0; }
        if (ok && !wait_for(&running, 5)) { fprintf(stderr, "smoke: no running state\n"); ok = 0; }
        if (ok && !strstr(first_netmap, "\"full\":true")) { fprintf(stderr, "smoke: first netmap not full: %s\n", first_netmap); ok = 0; }
        const char *upd = "{\"endpoints\": [\"127.0.0.1:41642\"], \"discoKey\": \"\"}";
        if (ok && update(h, (const uint8_t *)upd, (int64_t)strlen(upd)) != 0) { fprintf(stderr, "smoke: update failed\n"); ok = 0; }
        if (ok) printf("smoke: netmap received: %.120s\n", first_netmap);
    } else {
        if (!wait_for(&registering, 10) || !wait_for(&reconnecting, 30)) { fprintf(stderr, "smoke: no registering/reconnecting state\n"); ok = 0; }
    }
    stop(h);
    atomic_store(&stopped, 1);
    stop(h); // idempotent
    usleep(1000 * 1000);
    if (atomic_load(&after_stop) != 0) { fprintf(stderr, "smoke: a callback ran after wn_control_stop returned\n"); ok = 0; }
    if (ok) printf("smoke: %s passed\n", mode);
    return ok ? 0 : 1;
}
