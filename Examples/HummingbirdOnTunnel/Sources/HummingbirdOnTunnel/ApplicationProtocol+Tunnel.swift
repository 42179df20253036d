import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import ServiceLifecycle
import WireNet
import WireNetNIO

extension ApplicationProtocol {
    /// Runs the application on `port` of the node's tunnel addresses instead of a host socket: the
    /// same router, middleware, request contexts and HTTP/1.1 channel as `run()`, bound through a
    /// ``WireNetServerBootstrap``. Ends when the task is cancelled (or the node closes).
    func run(onTunnel node: Node, port: UInt16) async throws {
        let responder = try await self.responder
        let logger = self.logger
        let serverName = self.configuration.serverName
        let http = HTTP1Channel(responder: { request, responseWriter, channel in
            let context = Self.Responder.Context(source: .init(channel: channel, logger: logger))
            var response: Response
            do {
                response = try await responder.respond(to: request, context: context)
            } catch let error as HTTPResponseError {
                response = Response(status: error.status)
            } catch {
                logger.debug("Unrecognised error", metadata: ["error": "\(error)"])
                response = Response(status: .internalServerError)
            }
            if let serverName { response.headers[.server] = serverName }
            try await responseWriter.write(response: response.head, body: response.body)
        })
        let server: NIOAsyncChannel<HTTP1Channel.Value, Never> = try await WireNetServerBootstrap(node: node).bind(port: port) { channel in
            http.setup(channel: channel, logger: logger)
        }
        for process in processesRunBeforeServerStart { try await process() }
        logger.info("serving on the tunnel", metadata: ["port": "\(port)"])
        try await withThrowingDiscardingTaskGroup { group in
            for service in services { group.addTask { try await service.run() } }
            try await server.executeThenClose { connections in
                try await withTaskCancellationHandler {
                    for try await connection in connections {
                        group.addTask { await http.handle(value: connection, logger: logger) }
                    }
                } onCancel: {
                    server.channel.close(mode: .all, promise: nil)
                }
            }
            group.cancelAll()
        }
    }
}
