import Synchronization

/// Atomic counters that each own a cache line, for state one thread writes while another polls:
/// fields of one object share lines, and a helper spinning on a word next to a field the owner
/// writes for every packet would pull that line back and forth between the cores.
package final class CacheLineAtomics: @unchecked Sendable {
    /// Line size assumed for x86-64 and most ARM64 cores; two lines, as adjacent-line prefetching
    /// pairs them on x86-64.
    package static let stride = 128
    private let base: UnsafeMutableRawPointer
    package let count: Int

    package init(count: Int) {
        self.count = count
        base = UnsafeMutableRawPointer.allocate(byteCount: Self.stride * count, alignment: Self.stride)
        for index in 0..<count {
            (base + index * Self.stride).bindMemory(to: Atomic<Int>.self, capacity: 1).initialize(to: Atomic(0))
        }
    }

    /// The counter on line `index`.
    @inline(__always)
    package subscript(index: Int) -> UnsafeMutablePointer<Atomic<Int>> {
        (base + index * Self.stride).assumingMemoryBound(to: Atomic<Int>.self)
    }

    deinit {
        for index in 0..<count { self[index].deinitialize(count: 1) }
        base.deallocate()
    }
}
