//! The item under `#[migration]`: an inline module with its `up` and `down`
//! functions found.

use proc_macro2::TokenStream;
use syn::{Item, ItemFn, ItemMod};

pub(crate) struct MigrationModule {
    pub item: ItemMod,
}

impl MigrationModule {
    /// Parses the annotated item; anything but an inline module is refused.
    pub(crate) fn parse(tokens: TokenStream) -> syn::Result<Self> {
        let item: Item = syn::parse2(tokens)?;
        match item {
            Item::Mod(item) if item.content.is_some() => Ok(MigrationModule { item }),
            Item::Mod(item) => Err(syn::Error::new_spanned(
                &item,
                "#[migration] needs the module's body inline: `mod name { pub async fn up(..) .. }`",
            )),
            other => Err(syn::Error::new_spanned(
                other,
                "#[migration] goes on an inline module holding `async fn up` and `async fn down`",
            )),
        }
    }

    pub(crate) fn function(&self, name: &str) -> Option<&ItemFn> {
        self.items().iter().find_map(|item| match item {
            Item::Fn(function) if function.sig.ident == name => Some(function),
            _ => None,
        })
    }

    /// Whether `up` does nothing: its body is empty or only `Ok(())`, as `create` writes it.
    pub(crate) fn up_is_empty(&self) -> bool {
        self.function("up").is_some_and(|up| match up.block.stmts.as_slice() {
            [] => true,
            [syn::Stmt::Expr(syn::Expr::Call(call), None)] => {
                matches!(&*call.func, syn::Expr::Path(p) if p.path.is_ident("Ok"))
                    && matches!(call.args.iter().collect::<Vec<_>>().as_slice(), [syn::Expr::Tuple(t)] if t.elems.is_empty())
            }
            _ => false,
        })
    }

    pub(crate) fn items(&self) -> &[Item] {
        self.item.content.as_ref().map_or(&[], |(_, items)| items)
    }

    /// The migration's name: the module's identifier without `r#`.
    pub(crate) fn name(&self) -> String {
        let name = self.item.ident.to_string();
        name.strip_prefix("r#").map(str::to_owned).unwrap_or(name)
    }
}
