import Testing
@testable import WireNetCLI

@Suite("The demo's HTTP/1.1 pieces")
struct HTTPMessageTests {
    @Test func aRequestHeadParsesWithCaseInsensitiveFields() throws {
        let text = "GET /bytes/1024 HTTP/1.1\r\nHost: 100.64.1.1\r\nUser-Agent:  curl/8 \r\nAccept: */*"
        let head = try HTTPRequestHead(parsing: Array(text.utf8)[...])
        #expect(head.method == "GET")
        #expect(head.target == "/bytes/1024")
        #expect(head.field("HOST") == "100.64.1.1")
        #expect(head.field("user-agent") == "curl/8")
        #expect(DemoHTTPRoute(head) == .bytes(1024))
    }

    @Test func routesCoverThePageBytesAndErrors() throws {
        func route(_ line: String) throws -> DemoHTTPRoute {
            DemoHTTPRoute(try HTTPRequestHead(parsing: Array(line.utf8)[...]))
        }
        #expect(try route("GET / HTTP/1.1") == .page)
        #expect(try route("HEAD /?x=1 HTTP/1.0") == .page)
        #expect(try route("GET /bytes/0 HTTP/1.1") == .bytes(0))
        #expect(try route("GET /bytes/-1 HTTP/1.1") == .error(status: 404, reason: "Not Found"))
        #expect(try route("GET /bytes/2199023255553 HTTP/1.1") == .error(status: 400, reason: "Bad Request"))
        #expect(try route("GET /nothing HTTP/1.1") == .error(status: 404, reason: "Not Found"))
        #expect(try route("POST / HTTP/1.1") == .error(status: 405, reason: "Method Not Allowed"))
    }

    @Test(arguments: ["", "GET /", "GET  / HTTP/1.1", "get / HTTP/1.1", "GET / HTTP/2", "GET / HTTP/1.1\r\nNoColon", "GET / HTTP/1.1\r\nBad Name: x"])
    func malformedRequestsAreTypedErrors(text: String) {
        #expect(throws: HTTPParseError.self) { try HTTPRequestHead(parsing: Array(text.utf8)[...]) }
    }

    @Test func aResponseHeadGivesStatusAndLength() throws {
        let head = try HTTPResponseHead(parsing: Array("HTTP/1.1 200 OK\r\nContent-Length: 42\r\nConnection: close".utf8)[...])
        #expect(head.status == 200)
        #expect(head.reason == "OK")
        #expect(head.contentLength == 42)
        #expect(throws: HTTPParseError.self) { try HTTPResponseHead(parsing: Array("HTTP/1.1 2000 OK".utf8)[...]) }
    }

    @Test func theEndOfAHeadIsTheFirstEmptyLine() {
        #expect(endOfHead(in: Array("GET / HTTP/1.1\r\n\r\nbody".utf8)) == 18)
        #expect(endOfHead(in: Array("GET / HTTP/1.1\r\n".utf8)) == nil)
        #expect(endOfHead(in: []) == nil)
    }

    @Test func fixedPointFormatting() {
        #expect(fixed(1.005, 1) == "1.0")
        #expect(fixed(12.349, 2) == "12.35")
        #expect(fixed(0.04, 1) == "0.0")
        #expect(fixed(-2.5, 0) == "-3")
        #expect(fixed(3, 0) == "3")
    }
}
