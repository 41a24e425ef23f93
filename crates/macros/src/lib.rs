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
//!   `&self.tracer`). It is evaluated on each call (and, for an `async fn`, cloned — one `Arc`
//!   clone — so the body may still borrow what it borrowed, `&mut self` included). Default: `crate::tracer()`, a function the
//!   crate using the attribute defines, e.g.
//!   ```
//!   # use std::sync::LazyLock;
//!   # use reqtrace_core::RequestTracer;
//!   fn tracer() -> &'static RequestTracer {
//!       static TRACER: LazyLock<RequestTracer> = LazyLock::new(|| RequestTracer::new("svc"));
//!       &TRACER
//!   }
//!   # fn main() {}
//!   ```
//! - `args(a, b)`: record these arguments as attributes named after them. Each must be
//!   `Clone + Into<reqtrace_core::Value>` (integers, floats, bools, `String`,
//!   `&'static str`, `Vec`s of those); it is cloned only when the span is recorded.
//! - `debug_args(x)`: record these arguments as their `Debug` text (formatted only when the
//!   span is recorded). `self` may be named here.
//!
//! Options may be combined: `#[trace(name = "load", args(id), debug_args(filter))]`.
//!
//! [`RequestTracer`]: https://docs.rs/reqtrace-core
//!
//! ## What it does
//! - **Sync functions:** `let _guard = tracer.start_span(name);` as the first statement, so the
//!   span is a child of the thread's current span and ends when the function returns, by any
//!   path (a panic ends it with status error `"panicked"`).
//! - **`async` functions:** the body runs as an inner `async move` block, wrapped so that a
//!   detached span (started at the first poll, as a child of the current span there) is
//!   current on *every* poll, whichever thread polls: spans started inside after an `.await`
//!   that moved the task to another thread still get it as their parent. The span ends when
//!   the body completes (or the future is dropped). The returned future is `Send` whenever the
//!   body's is.
//! - Outside any trace, or in an unsampled trace, the span records nothing and arguments are
//!   neither cloned nor formatted.
//!
//! ## Errors at compile time
//! An unknown or repeated option, `args`/`debug_args` naming something that is not an
//! argument, or the attribute on anything but a function with a body (or on a `const fn`) is
//! a compile error pointing at the mistake.

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2, TokenTree};
use quote::{ToTokens, quote, quote_spanned};
use syn::parse::Parser;
use syn::spanned::Spanned;
use syn::{Expr, FnArg, Ident, Item, ItemFn, LitStr, Pat, ReturnType, Type};

/// Records a reqtrace span around the function. See the [crate docs](crate) for the options
/// (`name`, `tracer`, `args`, `debug_args`) and how sync and `async` functions are handled.
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
            } else {
                let found = meta.path.to_token_stream().to_string().replace(' ', "");
                return Err(meta.error(format!(
                    "unknown #[trace] option `{found}`; expected `name`, `tracer`, `args` or \
                     `debug_args`"
                )));
            };
            if opts.seen.contains(&key) {
                return Err(meta.error(format!("`{key}` is given more than once")));
            }
            opts.seen.push(key);
            match key {
                "name" => opts.name = Some(meta.value()?.parse()?),
                "tracer" => opts.tracer = Some(meta.value()?.parse()?),
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
        None => quote!(crate::tracer()),
    };

    // Hygienic names: invisible to the function's body.
    let site = Span::mixed_site();
    let tracer_var = Ident::new("__reqtrace_tracer", site);
    let span_var = Ident::new("__reqtrace_span", site);

    let mut sets = Vec::new();
    for ident in &opts.args {
        let key = ident.to_string();
        sets.push(quote_spanned! {ident.span()=>
            #span_var.set_attribute(#key, ::core::clone::Clone::clone(&#ident));
        });
    }
    for ident in &opts.debug_args {
        let key = ident.to_string();
        sets.push(quote_spanned! {ident.span()=>
            #span_var.set_attribute(#key, ::std::format!("{:?}", &#ident));
        });
    }
    let is_async = sig_is_async(&func);
    // A guard's `span_id` is the cheap "is it recorded" check; a detached span has its own.
    let recording = if is_async {
        quote!(#span_var.is_recording())
    } else {
        quote!(#span_var.span_id().is_some())
    };
    let record_args = if sets.is_empty() {
        quote!()
    } else {
        quote! {
            if #recording {
                #(#sets)*
            }
        }
    };
    let mut_kw = if sets.is_empty() {
        quote!()
    } else {
        quote!(mut)
    };

    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = func;
    // Inner attributes (`#![allow(..)]` at the top of the body) stay inside the body.
    let (inner_attrs, attrs): (Vec<_>, Vec<_>) = attrs
        .into_iter()
        .partition(|a| matches!(a.style, syn::AttrStyle::Inner(_)));
    let body = if is_async {
        let fut_var = Ident::new("__reqtrace_fut", site);
        let ctx_var = Ident::new("__reqtrace_ctx", site);
        let cx_var = Ident::new("__reqtrace_cx", site);
        let out_var = Ident::new("__reqtrace_out", site);
        let attached_var = Ident::new("__reqtrace_attached", site);
        // Annotate the inner block's output with the declared return type so `?` and
        // `return` inside it infer as they would in the function itself (not possible for
        // `impl Trait` return types, which are left to inference).
        let inner = match &sig.output {
            ReturnType::Type(_, ty) if !contains_impl_trait(ty) => {
                let ret_var = Ident::new("__reqtrace_ret", site);
                quote! {
                    async move {
                        let #ret_var: #ty = #block;
                        #ret_var
                    }
                }
            }
            ReturnType::Type(..) => quote!(async move #block),
            ReturnType::Default => quote! {
                async move {
                    let () = #block;
                }
            },
        };
        quote! {
            {
                #(#inner_attrs)*
                // An owned handle (one `Arc` clone), so the body may borrow whatever the
                // tracer expression borrowed (e.g. `&mut self` with `tracer = &self.tracer`).
                let #tracer_var: ::reqtrace_core::RequestTracer =
                    ::core::clone::Clone::clone(#tracer);
                let #mut_kw #span_var = #tracer_var.start_detached_span(#name);
                #record_args
                let #ctx_var = #span_var.context();
                let mut #fut_var = ::core::pin::pin!(#inner);
                let #out_var = ::core::future::poll_fn(move |#cx_var| {
                    let #attached_var = #ctx_var.as_ref().map(|c| #tracer_var.attach(c));
                    let #out_var = ::core::future::Future::poll(#fut_var.as_mut(), #cx_var);
                    ::core::mem::drop(#attached_var);
                    #out_var
                })
                .await;
                #span_var.end();
                #out_var
            }
        }
    } else {
        let stmts = &block.stmts;
        quote! {
            {
                #(#inner_attrs)*
                let #tracer_var: &::reqtrace_core::RequestTracer = #tracer;
                let #mut_kw #span_var = #tracer_var.start_span(#name);
                #record_args
                #(#stmts)*
            }
        }
    };
    Ok(quote! {
        #(#attrs)*
        #vis #sig
        #body
    })
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
