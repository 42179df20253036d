/// glibc's `malloc_trim(3)` (in `<malloc.h>`, which the Glibc module does not export): returns freed
/// heap pages to the kernel. Used once after decoding a large netmap, whose transient allocations
/// would otherwise stay in the process's resident memory.
@_silgen_name("malloc_trim")
private func glibcMallocTrim(_ pad: Int) -> Int32

enum HeapTrim {
    static func releaseFreedMemory() { _ = glibcMallocTrim(0) }
}
