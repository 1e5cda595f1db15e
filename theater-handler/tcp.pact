// theater:simple/tcp as theater-tcp-handler serves it: the seed interface plus transfer-async,
// with the names and types of crates.io theater-handler-tcp 0.3.22, so that the interface hash
// the Theater runtime checks an actor's imports against is the same (a test compares them).
// What each function does is in SEMANTICS.md of this project.

interface tcp {
    @package: string = "theater:simple"

    exports {
        connect: func(address: string) -> result<string, string>
        listen: func(address: string) -> result<string, string>
        accept: func(listener-id: string) -> result<string, string>
        activate: func(connection-id: string) -> result<_, string>
        set-active: func(connection-id: string, mode: string) -> result<_, string>
        transfer: func(connection-id: string, target-actor: string) -> result<_, string>
        transfer-async: func(connection-id: string, target-actor: string) -> result<_, string>
        peer-address: func(connection-id: string) -> result<string, string>
        send: func(connection-id: string, data: list<u8>) -> result<u64, string>
        receive: func(connection-id: string, max-bytes: u32) -> result<list<u8>, string>
        close: func(connection-id: string) -> result<_, string>
        close-listener: func(listener-id: string) -> result<_, string>
        upgrade-to-tls-server: func(connection-id: string) -> result<_, string>
        upgrade-to-tls-client: func(connection-id: string, server-name: string) -> result<_, string>
    }
}
