//! The fields a program can load (the runtime's side of the compiler's scheme).

/// A field load operand. Names (headers, queries, cookies) are constant-pool indices holding the
/// lowercase name, so the host compares without allocating.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Field {
    ReqMethod,
    /// The normalised path.
    ReqPath,
    ReqHost,
    ReqScheme,
    /// `path.NAME`: index into the route's params.
    PathParam(u8),
    /// `query.NAME`: const index of the name.
    Query(u16),
    /// `header.NAME`: const index of the lowercase name.
    Header(u16),
    /// `cookie.NAME`
    Cookie(u16),
    ClientIp,
    TlsSubject,
    RequestId,
    RouteName,
    /// A value a plugin produced earlier in this request (`claim.*`, `auth.scopes`, `key.*`,
    /// `auth.ctx.*`, `body.*`): the key is assigned by the compiler and listed in the image.
    Local(u16),
    RespStatus,
    /// `resp.header.NAME`
    RespHeader(u16),
    /// `resp.json.PATH`: const index of the JSON pointer.
    RespJson(u16),
    /// `body.PATH` on a buffered request body: const index of the JSON pointer.
    Body(u16),
    UpstreamName,
    /// Milliseconds.
    UpstreamLatency,
    Canary,
    ErrorStatus,
    ErrorMessage,
    ErrorRetryAfter,
}
