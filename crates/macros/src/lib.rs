//! # reqtrace-macros
//!
//! `#[trace]`: a reqtrace span around a function, sync or `async`.
//!
//! ```
//! use std::sync::LazyLock;
//! use reqtrace_core::{RequestTracer, Value};
//! use reqtrace_macros::trace;
//!
//! static TRACER: LazyLock<RequestTracer> = LazyLock::new(|| RequestTracer::new("shop"));
//!
//! #[trace(tracer = &TRACER, args(user))]
//! fn checkout(user: u64, items: &[&str]) -> usize {
//!     price(items.len())
//! }
//!
//! #[trace(tracer = &TRACER, name = "pricing")]
//! fn price(n: usize) -> usize {
//!     n * 100
//! }
//!
//! TRACER.start_trace();
//! assert_eq!(checkout(42, &["book", "pen"]), 200);
//! let trace = TRACER.end_trace().unwrap();
//!
//! let checkout = trace.span(concat!(module_path!(), "::checkout")).unwrap();
//! assert_eq!(checkout.attribute("user"), Some(&Value::I64(42)));
//! assert_eq!(trace.span("pricing").unwrap().parent_id, Some(checkout.span_id));
//! println!("{} took {:.3} ms", checkout.name, checkout.duration_ms());
//! ```
//!
//! ## Options
//! - `name = "…"`: the span's name. Default: the function's path,
//!   `concat!(module_path!(), "::", fn_name)` (for a method, the path of the module the `impl`
//!   is in, then the method's name).
//! - `tracer = EXPR`: where the [`RequestTracer`] comes from; `EXPR` must evaluate to a
//!   `&RequestTracer` (e.g. `&TRACER` for a `static TRACER: LazyLock<RequestTracer>`, or
//!   `&self.tracer`). It is evaluated on each call, when the function is called (for an
//!   `async fn` too, before the body's future exists, so it may borrow `&mut self`). Default:
//!   the process-wide tracer, `reqtrace_core::global::tracer()`: set it once at start-up with
//!   `reqtrace_core::global::set_tracer`; until then it is a no-op tracer and the spans are
//!   not recorded.
//!   ```
//!   use reqtrace_core::{global, RequestTracer};
//!   use reqtrace_macros::trace;
//!
//!   #[trace]
//!   fn handle() -> u32 { 7 }
//!
//!   global::set_tracer(RequestTracer::new("svc")).unwrap();
//!   global::tracer().start_trace();
//!   assert_eq!(handle(), 7);
//!   assert_eq!(global::tracer().end_trace().unwrap().spans.len(), 1);
//!   ```
//! - `args(a, b)`: record these arguments as attributes named after them. Each must be
//!   `Clone + Into<reqtrace_core::Value>` (integers, floats, bools, `String`,
//!   `&'static str`, `Vec`s of those); it is cloned only when the span is recorded.
//! - `debug_args(x)`: record these arguments as their `Debug` text (formatted only when the
//!   span is recorded). `self` may be named here.
//! - `root = false`: called with no trace current, record nothing. Default (`root = true`):
//!   the function's span starts a new trace as its root (a [`RootSpan`] owned by the call,
//!   finished when the function returns or its future completes or is dropped; the spans go to
//!   the tracer's exporter — with no exporter nobody takes them, and they are counted as
//!   abandoned). So a service instrumented only with `#[trace]` records its requests.
//!
//! Options may be combined: `#[trace(name = "load", args(id), debug_args(filter))]`.
//!
//! [`RequestTracer`]: https://docs.rs/reqtrace-core
//! [`RootSpan`]: https://docs.rs/reqtrace-core
//! [`Instrumented`]: https://docs.rs/reqtrace-core
//!
//! ## What it does
//! - **Sync functions:** `let _guard = tracer.start_span(name);` as the first statement, so the
//!   span is a child of the thread's current span and ends when the function returns, by any
//!   path (a panic ends it with status error `"panicked"`). Called with no trace current,
//!   it starts a [`RootSpan`] instead and makes it current until the function returns.
//! - **`async` functions:** `async fn f(..) -> R` becomes `fn f(..) -> impl Future<Output = R>`
//!   whose span starts *when `f` is called*, as a child of the caller's current span, and the
//!   body is returned as a future instrumented with it ([`Instrumented`], pinned, no heap
//!   allocation): the span is current on every poll, whichever thread polls. So
//!   `tokio::spawn(f())` keeps its parent. The parameters move into the body's future as an
//!   `async fn`'s do (a destructuring pattern is bound inside it); `args`/`debug_args` of an
//!   `async fn` must name parameters bound directly (`x`, `mut x`) or `self`. The span ends
//!   when the body completes or the future is dropped; the future is `Send` whenever the
//!   body's is. Borrowed parameters are captured by the returned future as Rust 2024's
//!   return-position `impl Trait` does (the calling crate's edition must be 2024 for them).
//!   Call it where its parent is current: `root.run(async { f().await })`, not
//!   `root.run(f())` (there `f` is called before `run` makes the root current).
//! - A call with no trace current starts one (see `root` above); in an unsampled trace the
//!   span records nothing.
//! - When nothing is recorded (`root = false` outside a trace, or an unsampled trace),
//!   arguments are neither cloned nor formatted.
//!
//! ## Errors at compile time
//! An unknown or repeated option, `args`/`debug_args` naming something that is not an
//! argument (or, for an `async fn`, that is bound inside a pattern), or the attribute on anything but a function with a body (or on a `const fn`) is
//! a compile error pointing at the mistake.

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2, TokenTree};
use quote::{ToTokens, quote, quote_spanned};
use syn::parse::Parser;
use syn::spanned::Spanned;
use syn::{Expr, FnArg, Ident, Item, ItemFn, LitBool, LitStr, Pat, ReturnType, Type};

/// Records a reqtrace span around the function. See the [crate docs](crate) for the options
/// (`name`, `tracer`, `args`, `debug_args`, `root`) and how sync and `async` functions are handled.
#[proc_macro_attribute]
pub fn trace(attr: TokenStream, item: TokenStream) -> TokenStream {
    let attr = TokenStream2::from(attr);
    let item = TokenStream2::from(item);
    match expand(attr, item.clone()) {
        Ok(ts) => ts.into(),
        // Keep the item as written so the error is the only one reported.
        Err(e) => {
            let err = e.to_compile_error();
            quote!(#err #item).into()
        }
    }
}

/// The parsed `#[trace(...)]` options.
#[derive(Default)]
struct Options {
    name: Option<LitStr>,
    tracer: Option<Expr>,
    args: Vec<Ident>,
    debug_args: Vec<Ident>,
    /// `root = false`: never start a trace.
    root: Option<LitBool>,
    seen: Vec<&'static str>,
}

impl Options {
    fn parse(attr: TokenStream2) -> syn::Result<Options> {
        let mut opts = Options::default();
        let parser = syn::meta::parser(|meta| {
            let key = if meta.path.is_ident("name") {
                "name"
            } else if meta.path.is_ident("tracer") {
                "tracer"
            } else if meta.path.is_ident("args") {
                "args"
            } else if meta.path.is_ident("debug_args") {
                "debug_args"
            } else if meta.path.is_ident("root") {
                "root"
            } else {
                let found = meta.path.to_token_stream().to_string().replace(' ', "");
                return Err(meta.error(format!(
                    "unknown #[trace] option `{found}`; expected `name`, `tracer`, `args`, \
                     `debug_args` or `root`"
                )));
            };
            if opts.seen.contains(&key) {
                return Err(meta.error(format!("`{key}` is given more than once")));
            }
            opts.seen.push(key);
            match key {
                "name" => opts.name = Some(meta.value()?.parse()?),
                "tracer" => opts.tracer = Some(meta.value()?.parse()?),
                "root" => opts.root = Some(meta.value()?.parse()?),
                _ => {
                    let mut names = Vec::new();
                    meta.parse_nested_meta(|arg| match arg.path.get_ident() {
                        Some(ident) if arg.input.is_empty() || arg.input.peek(syn::Token![,]) => {
                            names.push(ident.clone());
                            Ok(())
                        }
                        _ => Err(arg.error(format!("expected argument names: `{key}(a, b)`"))),
                    })?;
                    if key == "args" {
                        opts.args = names;
                    } else {
                        opts.debug_args = names;
                    }
                }
            }
            Ok(())
        });
        parser.parse2(attr)?;
        Ok(opts)
    }
}

fn expand(attr: TokenStream2, item: TokenStream2) -> syn::Result<TokenStream2> {
    let opts = Options::parse(attr)?;
    let func = match syn::parse2::<Item>(item.clone()) {
        Ok(Item::Fn(f)) => f,
        // Methods in `impl` blocks and trait default methods parse as functions too; anything
        // else (a struct, a trait method with no body, …) is a misuse.
        _ => match syn::parse2::<ItemFn>(item.clone()) {
            Ok(f) => f,
            Err(_) => {
                return Err(syn::Error::new(
                    first_token_span(&item),
                    "#[trace] can only be applied to a function with a body",
                ));
            }
        },
    };
    if let Some(c) = &func.sig.constness {
        return Err(syn::Error::new(
            c.span(),
            "#[trace] cannot be applied to a `const fn`",
        ));
    }

    let bound = bound_names(&func);
    let mut listed: Vec<&Ident> = Vec::new();
    for ident in opts.args.iter().chain(&opts.debug_args) {
        let is_self = ident == "self";
        let is_arg = bound.iter().any(|b| b == ident);
        if !is_arg {
            return Err(syn::Error::new(
                ident.span(),
                format!("`{ident}` is not an argument of `{}`", func.sig.ident),
            ));
        }
        if is_self && opts.args.contains(ident) {
            return Err(syn::Error::new(
                ident.span(),
                "`self` can only be recorded with `debug_args(self)`",
            ));
        }
        if listed.contains(&ident) {
            return Err(syn::Error::new(
                ident.span(),
                format!("`{ident}` is listed more than once"),
            ));
        }
        listed.push(ident);
    }

    let name = match &opts.name {
        Some(lit) => lit.to_token_stream(),
        None => {
            let fn_name = func.sig.ident.to_string();
            let fn_name = fn_name.strip_prefix("r#").unwrap_or(&fn_name);
            quote!(::core::concat!(::core::module_path!(), "::", #fn_name))
        }
    };
    let tracer = match &opts.tracer {
        Some(e) => e.to_token_stream(),
        None => quote!(::reqtrace_core::global::tracer()),
    };

    let is_async = sig_is_async(&func);
    if is_async {
        // An async fn's arguments are recorded when it is called, before they move into the
        // future: only names bound directly by a parameter can be.
        let plain = plain_params(&func);
        for ident in opts.args.iter().chain(&opts.debug_args) {
            if ident != "self" && !plain.iter().any(|p| p == ident) {
                return Err(syn::Error::new(
                    ident.span(),
                    format!(
                        "`{ident}` is bound inside a pattern; an `async fn` can only record \
                         arguments bound directly by a parameter"
                    ),
                ));
            }
        }
    }
    let allow_root = opts.root.as_ref().is_none_or(LitBool::value);

    // Hygienic names: invisible to the function's body.
    let site = Span::mixed_site();
    let tracer_var = Ident::new("__reqtrace_tracer", site);
    let span_var = Ident::new("__reqtrace_span", site);
    let root_var = Ident::new("__reqtrace_root", site);

    let sets_on = |target: &Ident| {
        let mut sets = Vec::new();
        for ident in &opts.args {
            let key = ident.to_string();
            sets.push(quote_spanned! {ident.span()=>
                #target.set_attribute(#key, ::core::clone::Clone::clone(&#ident));
            });
        }
        for ident in &opts.debug_args {
            let key = ident.to_string();
            sets.push(quote_spanned! {ident.span()=>
                #target.set_attribute(#key, ::std::format!("{:?}", &#ident));
            });
        }
        sets
    };
    let has_args = !opts.args.is_empty() || !opts.debug_args.is_empty();
    let mut_kw = if has_args { quote!(mut) } else { quote!() };
    // The span (a stack guard for a sync fn, a detached span for an async one) gets the
    // arguments only when it is recorded; so does a root the function started.
    let span_sets = sets_on(&span_var);
    let root_sets = sets_on(&root_var);
    // A guard's `span_id` is the cheap "is it recorded" check; a detached span has its own.
    let span_recording = if is_async {
        quote!(#span_var.is_recording())
    } else {
        quote!(#span_var.span_id().is_some())
    };

    let tracer = quote! {
        let #tracer_var: &::reqtrace_core::RequestTracer = #tracer;
    };
    // With no trace current, the function's span starts one (as its root), unless
    // `root = false`.
    let start_root = quote! {
        let #mut_kw #root_var: ::core::option::Option<::reqtrace_core::RootSpan> =
            if !#tracer_var.has_trace() {
                ::core::option::Option::Some(#tracer_var.start_root(#name))
            } else {
                ::core::option::Option::None
            };
    };

    // Arguments go on the function's span, or on the root when the call started a trace.
    let record_span = if has_args {
        quote!(if #span_recording { #(#span_sets)* })
    } else {
        quote!()
    };
    let record_root = if has_args {
        quote! {
            if let ::core::option::Option::Some(#root_var) = &mut #root_var {
                if #root_var.is_recording() { #(#root_sets)* }
            }
        }
    } else {
        quote!()
    };

    let ItemFn {
        attrs,
        vis,
        mut sig,
        block,
    } = func;
    // Inner attributes (`#![allow(..)]` at the top of the body) stay inside the body.
    let (inner_attrs, attrs): (Vec<_>, Vec<_>) = attrs
        .into_iter()
        .partition(|a| matches!(a.style, syn::AttrStyle::Inner(_)));
    let body = if is_async {
        let body_var = Ident::new("__reqtrace_body", site);
        let fut_var = Ident::new("__reqtrace_fut", site);
        let out_var = Ident::new("__reqtrace_out", site);
        // `async fn f(args) -> R` becomes `fn f(args) -> impl Future<Output = R>` whose body
        // runs at the call: it starts the span there (so its parent is the caller's current
        // span, even if the future is then handed to `tokio::spawn`) and returns the body as
        // a future instrumented with it. The parameters move into the body's future as an
        // `async fn`'s do (patterns are bound inside it).
        // Names the attribute itself uses at the call (the tracer expression, recorded
        // arguments) may be unused in the body without a warning.
        let mut used_at_call = idents_in(opts.tracer.to_token_stream());
        used_at_call.extend(opts.args.iter().chain(&opts.debug_args).cloned());
        let rebinds = rebind_params(&mut sig, site, &used_at_call);
        let ret_ty = match &sig.output {
            ReturnType::Type(_, ty) => ty.to_token_stream(),
            ReturnType::Default => quote!(()),
        };
        // Annotate the inner block's output with the declared return type so `?` and
        // `return` inside it infer as they would in the function itself (not possible for
        // `impl Trait` return types, which are left to inference).
        let inner = match &sig.output {
            ReturnType::Type(_, ty) if !contains_impl_trait(ty) => {
                let ret_var = Ident::new("__reqtrace_ret", site);
                quote! {
                    async move {
                        #rebinds
                        let #ret_var: #ty = #block;
                        #ret_var
                    }
                }
            }
            ReturnType::Type(..) => quote! {
                async move {
                    #rebinds
                    #block
                }
            },
            ReturnType::Default => quote! {
                async move {
                    #rebinds
                    let () = #block;
                }
            },
        };
        let output_span = sig.output.span();
        sig.asyncness = None;
        sig.output = syn::parse2(quote_spanned! {output_span=>
            -> impl ::core::future::Future<Output = #ret_ty>
        })?;
        if allow_root {
            quote! {
                {
                    #(#inner_attrs)*
                    #tracer
                    #start_root
                    let #mut_kw #span_var = if #root_var.is_none() {
                        #tracer_var.start_detached_span(#name)
                    } else {
                        ::reqtrace_core::Span::noop()
                    };
                    #record_span
                    #record_root
                    let #body_var = #inner;
                    let #fut_var = match &#root_var {
                        ::core::option::Option::Some(r) => {
                            ::reqtrace_core::FutureExt::with_context(#body_var, r.handle())
                        }
                        ::core::option::Option::None => {
                            ::reqtrace_core::FutureExt::in_span(#body_var, #span_var)
                        }
                    };
                    // The root (if the call started one) finishes when the body is done.
                    async move {
                        let #out_var = #fut_var.await;
                        ::core::mem::drop(#root_var);
                        #out_var
                    }
                }
            }
        } else {
            quote! {
                {
                    #(#inner_attrs)*
                    #tracer
                    let #mut_kw #span_var = #tracer_var.start_detached_span(#name);
                    #record_span
                    ::reqtrace_core::FutureExt::in_span(#inner, #span_var)
                }
            }
        }
    } else {
        let stmts = &block.stmts;
        if allow_root {
            let attach_var = Ident::new("__reqtrace_attached", site);
            let record_span_opt = if has_args {
                quote! {
                    if let ::core::option::Option::Some(#span_var) = &mut #span_var {
                        #record_span
                    }
                }
            } else {
                quote!()
            };
            // Dropped in reverse: the span, then the root's attachment, then the root.
            quote! {
                {
                    #(#inner_attrs)*
                    #tracer
                    #start_root
                    let #attach_var = #root_var.as_ref().map(::reqtrace_core::RootSpan::attach);
                    let #mut_kw #span_var = if #root_var.is_none() {
                        ::core::option::Option::Some(#tracer_var.start_span(#name))
                    } else {
                        ::core::option::Option::None
                    };
                    #record_span_opt
                    #record_root
                    #(#stmts)*
                }
            }
        } else {
            quote! {
                {
                    #(#inner_attrs)*
                    #tracer
                    let #mut_kw #span_var = #tracer_var.start_span(#name);
                    #record_span
                    #(#stmts)*
                }
            }
        }
    };
    Ok(quote! {
        #(#attrs)*
        #vis #sig
        #body
    })
}

/// Rewrites an async fn's parameters as `async fn` desugaring does: a parameter that is a
/// plain name (`x`, `mut x`) stays (without `mut`) and is re-bound inside the body's future
/// (`let mut x = x;`); any other pattern becomes a hidden name, destructured inside. The
/// receiver stays and is moved into the future too. Returns the re-binding statements.
fn rebind_params(sig: &mut syn::Signature, site: Span, used_at_call: &[Ident]) -> TokenStream2 {
    let mut rebinds = Vec::new();
    for (i, input) in sig.inputs.iter_mut().enumerate() {
        match input {
            FnArg::Receiver(_) => rebinds.push(quote!(let _ = &self;)),
            FnArg::Typed(pt) => match &mut *pt.pat {
                Pat::Ident(pi) if pi.by_ref.is_none() && pi.subpat.is_none() => {
                    let ident = &pi.ident;
                    let m = pi.mutability.take();
                    let allow = if used_at_call.contains(ident) {
                        quote!(#[allow(unused_variables)])
                    } else {
                        quote!()
                    };
                    rebinds.push(quote!(#allow let #m #ident = #ident;));
                }
                pat => {
                    let hidden = Ident::new(&format!("__reqtrace_arg{i}"), site);
                    let original = std::mem::replace(
                        pat,
                        Pat::Ident(syn::PatIdent {
                            attrs: Vec::new(),
                            by_ref: None,
                            mutability: None,
                            ident: hidden.clone(),
                            subpat: None,
                        }),
                    );
                    rebinds.push(quote!(let #original = #hidden;));
                }
            },
        }
    }
    quote!(#(#rebinds)*)
}

/// The names bound directly by a parameter (`x`, `mut x`), not inside a pattern.
fn plain_params(func: &ItemFn) -> Vec<Ident> {
    func.sig
        .inputs
        .iter()
        .filter_map(|input| match input {
            FnArg::Typed(t) => match &*t.pat {
                Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => Some(p.ident.clone()),
                _ => None,
            },
            FnArg::Receiver(_) => None,
        })
        .collect()
}

fn sig_is_async(func: &ItemFn) -> bool {
    func.sig.asyncness.is_some()
}

/// The span of the item's first token, for an error about the whole item.
fn first_token_span(item: &TokenStream2) -> Span {
    item.clone()
        .into_iter()
        .next()
        .map_or_else(Span::call_site, |t| t.span())
}

/// The names the function's parameters bind (`self` included).
fn bound_names(func: &ItemFn) -> Vec<Ident> {
    let mut out = Vec::new();
    for input in &func.sig.inputs {
        match input {
            FnArg::Receiver(r) => out.push(Ident::new("self", r.self_token.span)),
            FnArg::Typed(t) => pat_names(&t.pat, &mut out),
        }
    }
    out
}

fn pat_names(pat: &Pat, out: &mut Vec<Ident>) {
    match pat {
        Pat::Ident(p) => {
            out.push(p.ident.clone());
            if let Some((_, sub)) = &p.subpat {
                pat_names(sub, out);
            }
        }
        Pat::Tuple(t) => t.elems.iter().for_each(|p| pat_names(p, out)),
        Pat::TupleStruct(t) => t.elems.iter().for_each(|p| pat_names(p, out)),
        Pat::Struct(s) => s.fields.iter().for_each(|f| pat_names(&f.pat, out)),
        Pat::Reference(r) => pat_names(&r.pat, out),
        Pat::Slice(s) => s.elems.iter().for_each(|p| pat_names(p, out)),
        Pat::Type(t) => pat_names(&t.pat, out),
        Pat::Paren(p) => pat_names(&p.pat, out),
        _ => {}
    }
}

/// Every identifier in `ts`.
fn idents_in(ts: TokenStream2) -> Vec<Ident> {
    let mut out = Vec::new();
    for t in ts {
        match t {
            TokenTree::Ident(i) => out.push(i),
            TokenTree::Group(g) => out.extend(idents_in(g.stream())),
            _ => {}
        }
    }
    out
}

/// Whether `ty` mentions `impl Trait` (which a `let` cannot be annotated with).
fn contains_impl_trait(ty: &Type) -> bool {
    fn scan(ts: TokenStream2) -> bool {
        ts.into_iter().any(|t| match t {
            TokenTree::Ident(i) => i == "impl",
            TokenTree::Group(g) => scan(g.stream()),
            _ => false,
        })
    }
    scan(ty.to_token_stream())
}
