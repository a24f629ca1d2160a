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

    pub(crate) fn items(&self) -> &[Item] {
        self.item.content.as_ref().map_or(&[], |(_, items)| items)
    }

    /// The migration's name: the module's identifier without `r#`.
    pub(crate) fn name(&self) -> String {
        let name = self.item.ident.to_string();
        name.strip_prefix("r#").map(str::to_owned).unwrap_or(name)
    }
}
