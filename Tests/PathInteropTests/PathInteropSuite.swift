import Testing

/// The namespace labs of this target share names (`dp-*-<pid>`) and the 10.251.6.0/24 range: their
/// suites nest here so that they run one at a time.
@Suite(.serialized)
enum PathInterop {}
