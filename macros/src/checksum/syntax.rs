//! The syntax-level half of the canonical form: rewrites the parsed module
//! wherever rustfmt may pick one of two forms with the same meaning, so both
//! print the same tokens.
//!
//! - a match arm's or closure's body `{ e }` (a block of one expression, or of
//!   one `return`/`break`/`continue`) is `e`, and every arm ends with a comma
//!   (`match_arm_blocks`, `match_block_trailing_comma`, `force_multiline_blocks`);
//! - `return`/`break`/`continue` ending a block always has its `;` (`trailing_semicolon`);
//! - the `use` declarations of a module or block are flattened, sorted and put
//!   first (`imports_granularity`, `group_imports`, `reorder_imports`);
//! - `S { x: x }` is `S { x }` in expressions and patterns (`use_field_init_shorthand`);
//! - `((e))` is `(e)` (`remove_nested_parens`);
//! - a leading `|` of a match arm's patterns is dropped (`match_arm_leading_pipes`);
//! - wildcards ending a tuple pattern are `..` (`condense_wildcard_suffixes`);
//! - the arguments of a `name!(..)`/`name![..]` macro call that parse as
//!   expressions get the same treatment, since rustfmt formats them too.

use super::uses;
use quote::ToTokens;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::visit_mut::{self, VisitMut};
use syn::{
    Block, Expr, ExprMacro, FieldPat, FieldValue, Item, ItemUse, Macro, MacroDelimiter, Member, Pat, Stmt, Token,
};

/// Rewrites `item` into its canonical form.
pub(super) fn canonicalise(item: &mut Item) {
    Canonical.visit_item_mut(item);
}

struct Canonical;

impl VisitMut for Canonical {
    fn visit_item_mod_mut(&mut self, module: &mut syn::ItemMod) {
        if let Some((_, items)) = &mut module.content {
            let (found, mut rest): (Vec<Item>, Vec<Item>) =
                std::mem::take(items).into_iter().partition(|item| matches!(item, Item::Use(_)));
            let found = found.into_iter().filter_map(|item| if let Item::Use(u) = item { Some(u) } else { None });
            let mut sorted: Vec<Item> = uses::flatten(found.collect()).into_iter().map(Item::Use).collect();
            sorted.append(&mut rest);
            *items = sorted;
        }
        visit_mut::visit_item_mod_mut(self, module);
    }

    fn visit_block_mut(&mut self, block: &mut Block) {
        let (found, rest): (Vec<Stmt>, Vec<Stmt>) =
            std::mem::take(&mut block.stmts).into_iter().partition(|stmt| matches!(stmt, Stmt::Item(Item::Use(_))));
        let found: Vec<ItemUse> =
            found.into_iter().filter_map(|s| if let Stmt::Item(Item::Use(u)) = s { Some(u) } else { None }).collect();
        block.stmts = uses::flatten(found).into_iter().map(|u| Stmt::Item(Item::Use(u))).chain(rest).collect();
        if let Some(Stmt::Expr(expr, semi @ None)) = block.stmts.last_mut()
            && diverges(expr)
        {
            *semi = Some(<Token![;]>::default());
        }
        visit_mut::visit_block_mut(self, block);
    }

    fn visit_expr_mut(&mut self, expr: &mut Expr) {
        match expr {
            Expr::Paren(outer) if outer.attrs.is_empty() => {
                while let Expr::Paren(inner) = &*outer.expr
                    && inner.attrs.is_empty()
                {
                    let innermost = (*inner.expr).clone();
                    *outer.expr = innermost;
                }
            }
            Expr::Match(m) => {
                for arm in &mut m.arms {
                    if let Some(body) = single_expression(&arm.body) {
                        *arm.body = body;
                    }
                    arm.comma = Some(<Token![,]>::default());
                }
            }
            Expr::Closure(closure) if matches!(closure.output, syn::ReturnType::Default) => {
                if let Some(body) = single_expression(&closure.body) {
                    *closure.body = body;
                }
            }
            _ => {}
        }
        visit_mut::visit_expr_mut(self, expr);
    }

    fn visit_field_value_mut(&mut self, field: &mut FieldValue) {
        if let (Member::Named(name), Expr::Path(path)) = (&field.member, &field.expr)
            && field.attrs.is_empty()
            && path.attrs.is_empty()
            && path.qself.is_none()
            && path.path.get_ident().is_some_and(|ident| ident == name)
        {
            field.colon_token = None;
        }
        visit_mut::visit_field_value_mut(self, field);
    }

    fn visit_field_pat_mut(&mut self, field: &mut FieldPat) {
        if let (Member::Named(name), Pat::Ident(binding)) = (&field.member, &*field.pat)
            && binding.attrs.is_empty()
            && binding.by_ref.is_none()
            && binding.mutability.is_none()
            && binding.subpat.is_none()
            && binding.ident == *name
        {
            field.colon_token = None;
        }
        visit_mut::visit_field_pat_mut(self, field);
    }

    fn visit_pat_mut(&mut self, pat: &mut Pat) {
        match pat {
            Pat::Or(or) => or.leading_vert = None,
            Pat::Tuple(tuple) => condense_wildcards(&mut tuple.elems),
            Pat::TupleStruct(tuple) => condense_wildcards(&mut tuple.elems),
            _ => {}
        }
        visit_mut::visit_pat_mut(self, pat);
    }

    fn visit_macro_mut(&mut self, mac: &mut Macro) {
        if matches!(mac.delimiter, MacroDelimiter::Paren(_) | MacroDelimiter::Bracket(_))
            && let Ok(mut args) = Punctuated::<Expr, Token![,]>::parse_terminated.parse2(mac.tokens.clone())
        {
            args.iter_mut().for_each(|arg| self.visit_expr_mut(arg));
            mac.tokens = args.into_token_stream();
        }
        visit_mut::visit_macro_mut(self, mac);
    }
}

/// `e` when `body` is a plain block `{ e }` (or `{ return e; }` and the like),
/// which rustfmt writes with or without its braces.
fn single_expression(body: &Expr) -> Option<Expr> {
    let Expr::Block(block) = body else { return None };
    if !block.attrs.is_empty() || block.label.is_some() {
        return None;
    }
    match block.block.stmts.as_slice() {
        [Stmt::Expr(expr, None)] => Some(expr.clone()),
        [Stmt::Expr(expr, Some(_))] if diverges(expr) => Some(expr.clone()),
        [Stmt::Macro(stmt)] if stmt.attrs.is_empty() && stmt.semi_token.is_none() => {
            Some(Expr::Macro(ExprMacro { attrs: Vec::new(), mac: stmt.mac.clone() }))
        }
        _ => None,
    }
}

/// `return`, `break` and `continue`: a `;` after them changes nothing.
fn diverges(expr: &Expr) -> bool {
    matches!(expr, Expr::Return(_) | Expr::Break(_) | Expr::Continue(_))
}

/// `(a, _, _)`, `(a, _)` and `(a, _, ..)` are `(a, ..)`: the pattern's arity is fixed by its type.
fn condense_wildcards(elems: &mut Punctuated<Pat, Token![,]>) {
    let is_wild = |pat: &Pat| matches!(pat, Pat::Wild(w) if w.attrs.is_empty());
    let is_rest = |pat: &Pat| matches!(pat, Pat::Rest(r) if r.attrs.is_empty());
    let mut values: Vec<Pat> = elems.iter().cloned().collect();
    let suffix = values.iter().rev().take_while(|pat| is_wild(pat) || is_rest(pat)).count();
    if !values[values.len() - suffix..].iter().any(is_wild) {
        return;
    }
    values.truncate(values.len() - suffix);
    values.push(Pat::Rest(syn::PatRest { attrs: Vec::new(), dot2_token: <Token![..]>::default() }));
    *elems = values.into_iter().collect();
}
