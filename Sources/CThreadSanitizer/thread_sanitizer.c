#include "CThreadSanitizer.h"

int wirenet_tsan_compiled_with_thread_sanitizer(void) {
    return wirenet_tsan_annotates();
}
