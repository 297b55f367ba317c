//! Methods: interned at build, resolved once per lookup, ranked exact > GET-for-HEAD > ANY.

/// A route's method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) enum MethodSpec {
    Exact(u32),
    Any,
}

/// A request's method, resolved against the routes' methods.
#[derive(Debug, Clone, Copy)]
pub(super) struct ReqMethod {
    id: Option<u32>,
    head: bool,
}

/// Every method the routes name (upper case, sorted; the index is the id).
#[derive(Debug, Clone, Default)]
pub(super) struct MethodTable {
    names: Vec<Box<str>>,
    get: Option<u32>,
}

const ANY: &str = "ANY";

impl MethodTable {
    pub(super) fn build<'a>(methods: impl Iterator<Item = &'a str>) -> MethodTable {
        let mut names: Vec<Box<str>> = methods
            .map(|m| m.to_ascii_uppercase().into_boxed_str())
            .filter(|m| &**m != ANY)
            .collect();
        names.sort_unstable();
        names.dedup();
        let mut table = MethodTable { names, get: None };
        table.get = table.find("GET");
        table
    }

    fn find(&self, method: &str) -> Option<u32> {
        let i = self
            .names
            .binary_search_by(|n| n.as_ref().cmp(method))
            .ok()?;
        u32::try_from(i).ok()
    }

    /// The spec of a route's method (`ANY`, or any case of a method name).
    pub(super) fn spec(&self, method: &str) -> MethodSpec {
        let upper = method.to_ascii_uppercase();
        if upper == ANY {
            return MethodSpec::Any;
        }
        // Every route's method was interned by `build`, so `find` fails only past u32::MAX
        // distinct methods, which no slice of keys can hold.
        self.find(&upper).map_or(MethodSpec::Any, MethodSpec::Exact)
    }

    /// The name of an interned method.
    pub(super) fn name(&self, id: u32) -> Option<&str> {
        self.names.get(usize::try_from(id).ok()?).map(AsRef::as_ref)
    }

    /// Resolve a request's method (compared exactly: methods are case-sensitive). No allocation.
    pub(super) fn resolve(&self, method: &str) -> ReqMethod {
        ReqMethod {
            id: self.find(method),
            head: method == "HEAD",
        }
    }

    /// How well a route's method serves the request: lower is better; `None` = it does not.
    pub(super) fn rank(&self, spec: MethodSpec, req: ReqMethod) -> Option<u8> {
        match spec {
            MethodSpec::Exact(id) if req.id == Some(id) => Some(0),
            MethodSpec::Exact(id) if req.head && self.get == Some(id) => Some(1),
            MethodSpec::Exact(_) => None,
            MethodSpec::Any => Some(2),
        }
    }
}
