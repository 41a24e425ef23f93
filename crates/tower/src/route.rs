//! Where the server layer finds a request's route (the `http.route` attribute and the second
//! half of the span name): a [`RouteFn`] reading the request's extensions. With the `axum`
//! feature the default reads axum's `MatchedPath`.

/// Reads the route template of a request from its extensions (`None` when unknown).
///
/// The router must have put it there before the layer sees the request: with axum, add the
/// layer with `Router::layer` (it wraps each route, after matching) rather than around the
/// whole router.
pub type RouteFn = for<'a> fn(&'a http::Extensions) -> Option<&'a str>;

/// The route from axum's `MatchedPath` (the default with the `axum` feature).
#[cfg(feature = "axum")]
pub fn axum_matched_path(ext: &http::Extensions) -> Option<&str> {
    ext.get::<axum::extract::MatchedPath>()
        .map(axum::extract::MatchedPath::as_str)
}

/// The default route reader: axum's `MatchedPath` with the `axum` feature, else none.
pub(crate) fn default_route() -> Option<RouteFn> {
    #[cfg(feature = "axum")]
    {
        Some(axum_matched_path)
    }
    #[cfg(not(feature = "axum"))]
    {
        None
    }
}
