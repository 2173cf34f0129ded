//! Step 4: write the impls, inside `const _: () = { ... };`.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{DeriveInput, GenericParam, Generics, Path};

use crate::ast::{self, FieldModel, IndexModel, Model};
use crate::attr::NormalizeAttr;
use crate::attr::{self, Errors};
use crate::valid;

pub(crate) fn derive(input: &DeriveInput) -> TokenStream {
    let mut errors = Errors::default();
    let attrs = attr::struct_attrs(&input.attrs, &mut errors);
    let model = ast::model(input, &attrs, &mut errors);
    if let Some(model) = &model {
        valid::check(model, &mut errors);
    }
    match (model, errors.into_result()) {
        (Some(model), Ok(())) => expand(&model),
        (_, Err(error)) => {
            let mut out = error.to_compile_error();
            out.extend(fallback(input, &ast::crate_path(&attrs)));
            out
        }
        (None, Ok(())) => fallback(input, &ast::crate_path(&attrs)),
    }
}

/// A stub impl, so that a mistake in the attributes is the only error the
/// user sees (no "Sensitive is not implemented" noise after it). It names
/// strongroom by the same path as the real impl would.
fn fallback(input: &DeriveInput, krate: &Path) -> TokenStream {
    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    quote! {
        const _: () = {
            #[automatically_derived]
            impl #impl_generics #krate::Sensitive for #ident #ty_generics #where_clause {
                const RECORD_TYPE: &'static str = "";
                type Filter = ();
                fn to_parts(&self) -> #krate::Result<(#krate::Fields, #krate::Plain)> {
                    ::core::unreachable!()
                }
                fn from_record(_: &#krate::Record) -> #krate::Result<Self> {
                    ::core::unreachable!()
                }
                fn filter_pairs(_: ()) -> #krate::Result<::std::vec::Vec<(::std::string::String, ::std::string::String)>> {
                    ::core::result::Result::Ok(::std::vec::Vec::new())
                }
            }
        };
    }
}

/// The filter struct's parameters: the model's, each type parameter with
/// only `?Sized` as bound and no default, and no where-clause, so that the
/// filter is `Default`, `Clone`, `Debug`, `Send` and `Sync` for every `T`.
fn filter_generics(generics: &Generics) -> Generics {
    let mut out = generics.clone();
    out.where_clause = None;
    for param in &mut out.params {
        match param {
            GenericParam::Type(ty) => {
                ty.colon_token = Some(<syn::Token![:]>::default());
                ty.bounds.clear();
                ty.bounds.push(syn::parse_quote!(?Sized));
                ty.eq_token = None;
                ty.default = None;
            }
            GenericParam::Const(konst) => {
                konst.eq_token = None;
                konst.default = None;
            }
            // Refused by `valid` before expansion.
            GenericParam::Lifetime(_) => {}
        }
    }
    out
}

fn expand(model: &Model<'_>) -> TokenStream {
    let krate = &model.krate;
    let ident = model.ident;
    let (impl_generics, ty_generics, where_clause) = model.generics.split_for_impl();
    let filter_generics = filter_generics(model.generics);
    let (filter_impl_generics, filter_ty_generics, _) = filter_generics.split_for_impl();
    let marker_types = model.generics.type_params().map(|param| &param.ident);
    let record_type = &model.record_type;
    let filter = format_ident!("{}Filter", ident);
    let (sensitive, plain): (Vec<&FieldModel<'_>>, Vec<&FieldModel<'_>>) =
        model.fields.iter().partition(|f| f.sensitive);

    let seal = sensitive.iter().map(|f| {
        let (name, stored, ty) = (f.ident, &f.stored, f.ty);
        let insert = match f.pad {
            Some(block) => quote_spanned! {ty.span()=>
                let _ = fields.insert_padded(#stored, &self.#name, #block)?;
            },
            None => quote_spanned! {ty.span()=>
                let _ = fields.insert(#stored, &self.#name)?;
            },
        };
        // The value must read back as the type `from_record` decodes.
        quote_spanned! {ty.span()=>
            #insert
            fields.__check_reads_back::<#ty>(#stored)?;
        }
    });
    let to_plain = plain.iter().map(|f| {
        let (name, stored, ty) = (f.ident, &f.stored, f.ty);
        quote_spanned! {ty.span()=>
            if let ::core::option::Option::Some(value) = <#ty as #krate::PlainValue>::to_plain(&self.#name) {
                let _ = plain.insert(::std::string::String::from(#stored), value);
            }
        }
    });
    let read_sensitive = sensitive.iter().map(|f| {
        let (name, stored, ty) = (f.ident, &f.stored, f.ty);
        // An Option field absent from an older record reads as None; any
        // other absent field is an error naming it.
        if f.option_inner.is_some() {
            quote_spanned! {ty.span()=>
                #name: record.field_opt::<#ty>(#stored)?.flatten(),
            }
        } else {
            quote_spanned! {ty.span()=>
                #name: record.field::<#ty>(#stored)?,
            }
        }
    });
    let read_plain = plain.iter().map(|f| {
        let (name, stored, ty) = (f.ident, &f.stored, f.ty);
        quote_spanned! {ty.span()=>
            #name: <#ty as #krate::PlainValue>::from_plain(
                plain.get(#stored).map(::std::string::String::as_str),
                #stored,
            )?,
        }
    });
    let filter_methods = plain.iter().map(|f| {
        let (name, stored) = (f.ident, &f.stored);
        let value_ty = f.option_inner.unwrap_or(f.ty);
        let doc = format!("Only records whose plain field `{stored}` equals `value`.");
        quote_spanned! {f.ty.span()=>
            #[doc = #doc]
            #[must_use]
            pub fn #name(mut self, value: impl ::core::convert::Into<#value_ty>) -> Self {
                let value: #value_ty = value.into();
                // A value that stores no entry is kept as `None`: the
                // query refuses it rather than dropping the condition.
                self.pairs.push((
                    ::std::string::String::from(#stored),
                    <#value_ty as #krate::PlainValue>::to_plain(&value),
                ));
                self
            }
        }
    });
    let index_methods = model.indexes.iter().filter_map(|i| index_method(model, i));
    let index_specs = model.indexes.iter().map(|i| index_spec(model, i));
    let model_fields = model.fields.iter().map(|f| {
        let stored = &f.stored;
        if f.sensitive {
            quote!(#krate::index::ModelField::sealed(#stored))
        } else {
            quote!(#krate::index::ModelField::plain(#stored))
        }
    });
    let filter_doc = format!(
        "Filters over the plain fields of [`{ident}`], and equality on its indexed sensitive fields (generated by `#[derive(Sensitive)]`)."
    );

    let filter_name = filter.to_string();

    quote! {
        // The filter is public (its methods are the query API) though
        // nothing outside names it: a crate denying `unreachable_pub`
        // must still derive.
        #[allow(unreachable_pub)]
        const _: () = {
            #[doc = #filter_doc]
            pub struct #filter #filter_generics {
                pairs: ::std::vec::Vec<(::std::string::String, ::core::option::Option<::std::string::String>)>,
                indexes: ::std::vec::Vec<#krate::index::IndexQuery>,
                // Carries the type parameters without owning a `T`.
                marker: ::core::marker::PhantomData<(#(fn() -> #marker_types,)*)>,
            }

            #[automatically_derived]
            impl #filter_impl_generics ::core::default::Default for #filter #filter_ty_generics {
                fn default() -> Self {
                    Self {
                        pairs: ::std::vec::Vec::new(),
                        indexes: ::std::vec::Vec::new(),
                        marker: ::core::marker::PhantomData,
                    }
                }
            }

            #[automatically_derived]
            impl #filter_impl_generics ::core::clone::Clone for #filter #filter_ty_generics {
                fn clone(&self) -> Self {
                    Self {
                        pairs: ::core::clone::Clone::clone(&self.pairs),
                        indexes: ::core::clone::Clone::clone(&self.indexes),
                        marker: ::core::marker::PhantomData,
                    }
                }
            }

            #[automatically_derived]
            impl #filter_impl_generics ::core::fmt::Debug for #filter #filter_ty_generics {
                fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                    f.debug_struct(#filter_name)
                        .field("pairs", &self.pairs)
                        .field("indexes", &self.indexes)
                        .finish()
                }
            }

            // A model need not filter on every plain field. The methods
            // need the struct's own bounds (a plain `T` field, `T: PlainValue`).
            #[allow(dead_code)]
            impl #impl_generics #filter #ty_generics #where_clause {
                #(#filter_methods)*
                #(#index_methods)*
            }

            #[automatically_derived]
            impl #impl_generics #krate::Sensitive for #ident #ty_generics #where_clause {
                const RECORD_TYPE: &'static str = #record_type;
                type Filter = #filter #ty_generics;

                fn to_parts(&self) -> #krate::Result<(#krate::Fields, #krate::Plain)> {
                    let mut fields = #krate::Fields::new();
                    #(#seal)*
                    let mut plain = #krate::Plain::new();
                    #(#to_plain)*
                    ::core::result::Result::Ok((fields, plain))
                }

                fn from_record(record: &#krate::Record) -> #krate::Result<Self> {
                    let plain = &record.meta().plain;
                    let _ = plain;
                    ::core::result::Result::Ok(Self {
                        #(#read_sensitive)*
                        #(#read_plain)*
                    })
                }

                fn filter_pairs(filter: Self::Filter) -> #krate::Result<::std::vec::Vec<(::std::string::String, ::std::string::String)>> {
                    filter
                        .pairs
                        .into_iter()
                        .map(|(name, value)| match value {
                            ::core::option::Option::Some(value) => ::core::result::Result::Ok((name, value)),
                            ::core::option::Option::None => ::core::result::Result::Err(#krate::Error::InvalidInput(
                                "a filter value stores no plain entry (its to_plain gives None); records without the entry cannot be filtered for",
                            )),
                        })
                        .collect()
                }

                fn filter_indexes(filter: &Self::Filter) -> ::std::vec::Vec<#krate::index::IndexQuery> {
                    ::core::clone::Clone::clone(&filter.indexes)
                }

                fn indexes() -> ::std::vec::Vec<#krate::index::IndexSpec> {
                    ::std::vec![#(#index_specs),*]
                }

                fn model_fields() -> ::std::vec::Vec<#krate::index::ModelField> {
                    ::std::vec![#(#model_fields),*]
                }
            }
        };
    }
}

/// The `IndexSpec` an index declares.
fn index_spec(model: &Model<'_>, index: &IndexModel) -> TokenStream {
    let krate = &model.krate;
    let name = &index.name;
    let stored = index.fields.iter().map(|&p| &model.fields[p].stored);
    let bits = index.bits.map(|bits| quote!(.bits(#bits)));
    let normalize = index.normalize.as_ref().map(|n| match n {
        NormalizeAttr::Builtin(id, span) => {
            let variant = match id.as_str() {
                "lowercase" => quote_spanned!(*span=> Lowercase),
                "trim" => quote_spanned!(*span=> Trim),
                _ => quote_spanned!(*span=> None),
            };
            quote!(.normalize(#krate::index::Normalize::#variant))
        }
        NormalizeAttr::Custom(path) => {
            let id = quote!(#path).to_string().replace(' ', "");
            quote_spanned! {path.span()=>
                .normalize(#krate::index::Normalize::Custom { id: #id, apply: #path })
            }
        }
    });
    quote! {
        #krate::index::IndexSpec::new(#name, [#(#stored),*]) #bits #normalize
    }
}

/// The filter method of an index: `<field>_eq(value)`, or for a compound
/// index `<name>_eq(first, second, ...)`, one argument per field.
fn index_method(model: &Model<'_>, index: &IndexModel) -> Option<TokenStream> {
    let krate = &model.krate;
    let method = index.method.as_ref()?;
    let name = &index.name;
    let fields: Vec<&FieldModel<'_>> = index.fields.iter().map(|&p| &model.fields[p]).collect();
    let params = fields.iter().map(|f| {
        let (arg, ty) = (f.ident, f.option_inner.unwrap_or(f.ty));
        quote_spanned!(f.ty.span()=> #arg: impl ::core::convert::Into<#ty>)
    });
    let withs = fields.iter().map(|f| {
        let (arg, stored, ty) = (f.ident, &f.stored, f.option_inner.unwrap_or(f.ty));
        quote_spanned! {f.ty.span()=>
            let #arg: #ty = ::core::convert::Into::into(#arg);
            __strongroom_condition = __strongroom_condition.with(#stored, &#arg);
        }
    });
    let names: Vec<String> = fields.iter().map(|f| format!("`{}`", f.stored)).collect();
    let doc = match names.as_slice() {
        [one] => format!("Only records whose sensitive field {one} equals `{}`", fields[0].ident),
        many => format!("Only records whose sensitive fields {} equal these values", many.join(", ")),
    } + &format!(
        ", found through the blind index `{name}`: candidates are verified, decrypted and compared before they are returned (see `strongroom::index`)."
    );
    Some(quote_spanned! {index.name_span=>
        #[doc = #doc]
        #[must_use]
        pub fn #method(mut self, #(#params),*) -> Self {
            // Named so that no field (each an argument here) hides it.
            let mut __strongroom_condition = #krate::index::IndexQuery::new(#name);
            #(#withs)*
            self.indexes.push(__strongroom_condition);
            self
        }
    })
}
