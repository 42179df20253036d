#define _GNU_SOURCE
#include "wirenet_system.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

// One /proc/self/smaps entry, as far as wirenet_release_file_pages needs it.
struct mapping {
    unsigned long start, end;
    int eligible;  // a private file mapping without write permission
    long rss, anonymous, locked, private_dirty;
};

static int releasable(const struct mapping *m) {
    return m->eligible && m->rss > 0 && m->anonymous == 0 && m->locked == 0 && m->private_dirty == 0;
}

// Appends `m` to `*found` (growing it); 0, or -ENOMEM.
static int append(struct mapping **found, size_t *count, size_t *capacity, const struct mapping *m) {
    if (*count == *capacity) {
        struct mapping *grown = realloc(*found, 2 * *capacity * sizeof **found);
        if (grown == NULL) return -ENOMEM;
        *found = grown;
        *capacity *= 2;
    }
    (*found)[(*count)++] = *m;
    return 0;
}

int wirenet_release_file_pages(struct wirenet_released_pages *released) {
    released->mappings = 0;
    released->kib = 0;
    FILE *smaps = fopen("/proc/self/smaps", "re");
    if (smaps == NULL) return -errno;
    // Collected first and released after the file is closed: madvise changes the flags of the
    // mappings smaps is walking.
    size_t count = 0, capacity = 64;
    struct mapping *found = malloc(capacity * sizeof *found);
    if (found == NULL) { fclose(smaps); return -ENOMEM; }
    struct mapping current = {0};
    int have = 0;
    char line[4096];
    while (fgets(line, sizeof line, smaps) != NULL) {
        unsigned long start, end, offset, inode;
        char perms[5], device[16];
        int path_at = 0;
        if (sscanf(line, "%lx-%lx %4s %lx %15s %lu %n", &start, &end, perms, &offset, device, &inode, &path_at) >= 6
            && strchr(line, ':') != NULL && line[0] != ' ' && strncmp(line, "VmFlags", 7) != 0) {
            if (have && releasable(&current) && append(&found, &count, &capacity, &current) != 0) {
                free(found);
                fclose(smaps);
                return -ENOMEM;
            }
            memset(&current, 0, sizeof current);
            current.start = start;
            current.end = end;
            // A file (inode != 0, a path), private, not writable: code and read-only data.
            current.eligible = inode != 0 && path_at > 0 && line[path_at] == '/' && perms[1] != 'w' && perms[3] == 'p';
            have = 1;
            continue;
        }
        long value;
        if (sscanf(line, "Rss: %ld kB", &value) == 1) current.rss = value;
        else if (sscanf(line, "Anonymous: %ld kB", &value) == 1) current.anonymous = value;
        else if (sscanf(line, "Locked: %ld kB", &value) == 1) current.locked = value;
        else if (sscanf(line, "Private_Dirty: %ld kB", &value) == 1) current.private_dirty = value;
    }
    fclose(smaps);
    if (have && releasable(&current) && append(&found, &count, &capacity, &current) != 0) {
        free(found);
        return -ENOMEM;
    }
    int result = 0;
    for (size_t i = 0; i < count; i++) {
        void *address = (void *)found[i].start;
        size_t length = found[i].end - found[i].start;
        if (madvise(address, length, MADV_DONTNEED) != 0) {
            result = -errno;
            break;
        }
        released->mappings += 1;
        released->kib += found[i].rss;
    }
    free(found);
    return result;
}
