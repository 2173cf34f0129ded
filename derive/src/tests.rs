//! The expansion of tricky inputs, checked on the generated tokens.

use proc_macro2::TokenStream;
use quote::quote;
use syn::DeriveInput;

fn derive(input: DeriveInput) -> String {
    crate::expand::derive(&input).to_string()
}

#[track_caller]
fn assert_has(out: &str, expected: TokenStream) {
    let expected = expected.to_string();
    assert!(out.contains(&expected), "expected `{expected}` in:\n{out}");
}

#[track_caller]
fn assert_lacks(out: &str, unexpected: TokenStream) {
    let unexpected = unexpected.to_string();
    assert!(
        !out.contains(&unexpected),
        "unexpected `{unexpected}` in:\n{out}"
    );
}

#[test]
fn every_trait_impl_is_automatically_derived() {
    let out = derive(syn::parse_quote! {
        struct Patient { clinic: String, #[sensitive] name: String }
    });
    for imp in [
        quote!(impl ::strongroom::Sensitive for Patient),
        quote!(impl ::core::default::Default for PatientFilter),
        quote!(impl ::core::clone::Clone for PatientFilter),
        quote!(impl ::core::fmt::Debug for PatientFilter),
    ] {
        assert_has(&out, quote!(#[automatically_derived] #imp));
    }
    assert_eq!(out.matches("automatically_derived").count(), 4, "{out}");
}

#[test]
fn fallback_stub_is_automatically_derived() {
    let out = derive(syn::parse_quote! {
        #[sensitive(recordtype = "patient")]
        struct Patient { #[sensitive] name: String }
    });
    assert_has(
        &out,
        quote!(#[automatically_derived] impl ::strongroom::Sensitive for Patient),
    );
}

#[test]
fn crate_override_replaces_every_strongroom_path() {
    let out = derive(syn::parse_quote! {
        #[sensitive(crate = "my_app::strongroom")]
        struct Patient { clinic: Option<String>, #[sensitive] name: String }
    });
    assert_has(&out, quote!(impl my_app::strongroom::Sensitive for Patient));
    assert_has(&out, quote!(my_app::strongroom::PlainValue));
    assert_has(&out, quote!(record: &my_app::strongroom::Record));
    let rest = out.replace(&quote!(my_app::strongroom).to_string(), "");
    assert!(!rest.contains("strongroom"), "{out}");
}

#[test]
fn crate_override_applies_to_the_fallback_stub() {
    let out = derive(syn::parse_quote! {
        #[sensitive(crate = "my_app::strongroom")]
        enum Status { Active }
    });
    assert_has(&out, quote!(::core::compile_error!));
    assert_has(&out, quote!(impl my_app::strongroom::Sensitive for Status));
    let rest = out.replace(&quote!(my_app::strongroom).to_string(), "");
    assert!(!rest.contains("strongroom"), "{out}");
}

#[test]
fn malformed_or_duplicate_crate_path_is_an_error() {
    let out = derive(syn::parse_quote! {
        #[sensitive(crate = "not a path")]
        struct Patient { #[sensitive] name: String }
    });
    assert!(out.contains("is not a path"), "{out}");
    // The stub falls back to the default path.
    assert_has(&out, quote!(impl ::strongroom::Sensitive for Patient));

    let out = derive(syn::parse_quote! {
        #[sensitive(crate = "a::strongroom", crate = "b::strongroom")]
        struct Patient { #[sensitive] name: String }
    });
    assert!(out.contains("duplicate `crate`"), "{out}");
}

#[test]
fn type_parameters_are_carried_onto_the_impl_and_filter() {
    let out = derive(syn::parse_quote! {
        struct Wrapper<T: Serialize + DeserializeOwned, K = u32> where K: PlainValue {
            #[sensitive] value: T,
            key: K,
        }
    });
    assert_has(
        &out,
        quote!(
            impl<T: Serialize + DeserializeOwned, K> ::strongroom::Sensitive for Wrapper<T, K>
            where K: PlainValue
        ),
    );
    assert_has(
        &out,
        quote!(
            type Filter = WrapperFilter<T, K>;
        ),
    );
    // The filter owns no `T`: no bounds, no defaults, a fn-pointer marker.
    assert_has(&out, quote!(pub struct WrapperFilter<T: ?Sized, K: ?Sized>));
    assert_has(
        &out,
        quote!(marker: ::core::marker::PhantomData<(fn() -> T, fn() -> K,)>),
    );
    assert_has(
        &out,
        quote!(impl<T: ?Sized, K: ?Sized> ::core::default::Default for WrapperFilter<T, K>),
    );
    // Its methods keep the struct's bounds, which they may need.
    assert_has(
        &out,
        quote!(impl<T: Serialize + DeserializeOwned, K> WrapperFilter<T, K> where K: PlainValue),
    );
}

#[test]
fn const_parameters_are_carried_onto_the_impl_and_filter() {
    let out = derive(syn::parse_quote! {
        struct Shelf<const N: usize> { #[sensitive] name: String }
    });
    assert_has(
        &out,
        quote!(impl<const N: usize> ::strongroom::Sensitive for Shelf<N>),
    );
    assert_has(&out, quote!(pub struct ShelfFilter<const N: usize>));
    assert_has(&out, quote!(marker: ::core::marker::PhantomData<()>));
}

#[test]
fn lifetime_parameter_is_refused_with_a_stub() {
    let out = derive(syn::parse_quote! {
        struct Note<'a> { #[sensitive] body: &'a str }
    });
    assert!(
        out.contains("does not support the lifetime parameter `'a`"),
        "{out}"
    );
    assert_has(&out, quote!(impl<'a> ::strongroom::Sensitive for Note<'a>));
    assert_lacks(&out, quote!(NoteFilter));
}

#[test]
fn rename_is_the_stored_name() {
    let out = derive(syn::parse_quote! {
        struct Patient {
            #[sensitive(rename = "hist")] history: Vec<Visit>,
            clinic: String,
        }
    });
    assert_has(&out, quote!(fields.insert("hist", &self.history)?;));
    // Checked to read back as the type it is read as.
    assert_has(
        &out,
        quote!(fields.__check_reads_back::<Vec<Visit> >("hist")?;),
    );
    assert_has(&out, quote!(history: record.field::<Vec<Visit> >("hist")?,));
    assert_lacks(&out, quote!("history"));
    // A plain field is stored and filtered under its own name.
    assert_has(&out, quote!(plain.get("clinic")));
}

#[test]
fn option_fields_read_as_none_when_absent_and_filter_on_the_inner_type() {
    let out = derive(syn::parse_quote! {
        struct Patient {
            #[sensitive] national_id: Option<String>,
            #[sensitive] name: String,
            referrer: Option<String>,
        }
    });
    assert_has(
        &out,
        quote!(national_id: record.field_opt::<Option<String> >("national_id")?.flatten(),),
    );
    assert_has(&out, quote!(name: record.field::<String>("name")?,));
    assert_has(
        &out,
        quote!(pub fn referrer(mut self, value: impl ::core::convert::Into<String>) -> Self),
    );
}

#[test]
fn record_type_defaults_to_the_snake_case_struct_name() {
    let out = derive(syn::parse_quote! {
        struct PatientVisit { #[sensitive] notes: String }
    });
    assert_has(
        &out,
        quote!(
            const RECORD_TYPE: &'static str = "patient_visit";
        ),
    );

    let out = derive(syn::parse_quote! {
        #[sensitive(record_type = "visit")]
        struct PatientVisit { #[sensitive] notes: String }
    });
    assert_has(
        &out,
        quote!(
            const RECORD_TYPE: &'static str = "visit";
        ),
    );
}

#[test]
fn errors_are_reported_together_with_only_a_stub() {
    let out = derive(syn::parse_quote! {
        #[sensitive(recordtype = "patient")]
        struct Patient { #[sensitive(renam = "n")] name: String }
    });
    assert_eq!(out.matches("compile_error").count(), 2, "{out}");
    assert!(out.contains("valid keys: record_type, crate"), "{out}");
    assert!(out.contains("valid keys: rename"), "{out}");
    assert_has(
        &out,
        quote!(
            type Filter = ();
        ),
    );
    assert_lacks(&out, quote!(PatientFilter));
}

#[test]
fn a_custom_normaliser_is_named_by_its_path_as_written() {
    // SECURITY.md: the normaliser's name is stored with the index, a
    // custom one by its path as written.
    let out = derive(syn::parse_quote! {
        struct Person { #[sensitive(index(normalize = norm::digits))] phone: String }
    });
    assert_has(
        &out,
        quote!(.normalize(::strongroom::index::Normalize::Custom { id: "norm::digits", apply: norm::digits })),
    );
}

#[test]
fn a_record_type_with_whitespace_at_either_end_is_a_compile_error() {
    for record_type in [" patient", "patient ", "\tpatient"] {
        let out = derive(syn::parse_quote! {
            #[sensitive(record_type = #record_type)]
            struct Patient { #[sensitive] name: String }
        });
        assert!(
            out.contains("compile_error") && out.contains("the record type"),
            "{record_type:?}: {out}"
        );
    }
    let out = derive(syn::parse_quote! {
        #[sensitive(record_type = "lab result")]
        struct Patient { #[sensitive] name: String }
    });
    assert!(!out.contains("compile_error"), "{out}");
}

/// A field type named like the generated filter, without a path, would be
/// hidden by it: refused with an error that says so; with a path, or in
/// another model, it is fine.
#[test]
fn a_field_type_named_like_the_filter_is_refused_unless_qualified() {
    let out = derive(syn::parse_quote! {
        struct Patient { clinic: String, #[sensitive] f: Vec<PatientFilter> }
    });
    assert!(out.contains("compile_error"), "{out}");
    assert!(out.contains("the name of the filter"), "{out}");
    for input in [
        syn::parse_quote! { struct Patient { #[sensitive] f: self::PatientFilter } },
        syn::parse_quote! { struct Visit { #[sensitive] f: PatientFilter } },
    ] {
        let out = derive(input);
        assert!(!out.contains("compile_error"), "{out}");
    }
}

/// A field named `condition` is an argument of its index's filter method;
/// the method's own local cannot be hidden by it.
#[test]
fn an_indexed_field_named_condition_keeps_the_methods_local_apart() {
    let out = derive(syn::parse_quote! {
        struct Case { clinic: String, #[sensitive(index)] condition: String }
    });
    assert_has(&out, quote!(let mut __strongroom_condition));
    assert_lacks(&out, quote!(let mut condition));
}

#[test]
fn a_record_type_with_an_invisible_character_is_a_compile_error() {
    for record_type in ["patient\u{200B}", "\u{FEFF}patient", "pati\u{202E}ent"] {
        let out = derive(syn::parse_quote! {
            #[sensitive(record_type = #record_type)]
            struct Patient { #[sensitive] name: String }
        });
        assert!(
            out.contains("contains an invisible character"),
            "{record_type:?}:\n{out}"
        );
    }
    let out = derive(syn::parse_quote! {
        #[sensitive(record_type = "患者")]
        struct Patient { #[sensitive] name: String }
    });
    assert!(!out.contains("compile_error"), "{out}");
}

#[test]
fn a_model_without_fields_is_a_compile_error() {
    let out = derive(syn::parse_quote! {
        #[sensitive(record_type = "member")]
        struct Member {}
    });
    assert!(out.contains("needs at least one field"), "{out}");
}

#[test]
fn every_unknown_key_of_one_attribute_is_reported() {
    let out = derive(syn::parse_quote! {
        #[sensitive(recordtype = "patient", krate = "x")]
        struct Patient { #[sensitive(renam = "n", indx)] name: String }
    });
    assert_eq!(out.matches("compile_error").count(), 4, "{out}");
    let out = derive(syn::parse_quote! {
        struct Patient { #[sensitive(index(bitz = 3, norm(x)))] name: String }
    });
    assert_eq!(out.matches("compile_error").count(), 2, "{out}");
}

#[test]
fn an_error_after_a_value_that_does_not_parse_is_still_reported() {
    let out = derive(syn::parse_quote! {
        #[sensitive(record_type = 5, bogus = "x")]
        struct Patient { #[sensitive(rename = 7, index(bits = "x", name = 3))] name: String }
    });
    assert_eq!(out.matches("compile_error").count(), 5, "{out}");
    // A key after a grouped unknown one is read: its own error shows.
    let out = derive(syn::parse_quote! {
        #[sensitive(bogus(1, 2), record_type = "")]
        struct Patient { #[sensitive] name: String }
    });
    assert_eq!(out.matches("compile_error").count(), 2, "{out}");
    assert!(out.contains("the record type is empty"), "{out}");
}

#[test]
fn an_unknown_keys_value_with_commas_inside_angle_brackets_is_one_error() {
    let out = derive(syn::parse_quote! {
        #[sensitive(bogus = Vec<u8, A>, record_type = "")]
        struct Patient { #[sensitive(foo = HashMap<K, Vec<V, B>>, renam = "n")] name: String }
    });
    // bogus, the empty record type, foo and renam: one error each, none for
    // the text after a comma inside `<...>`.
    assert_eq!(out.matches("compile_error").count(), 4, "{out}");
    assert!(out.contains("the record type is empty"), "{out}");
    assert!(out.contains("valid keys: rename"), "{out}");
    // `->` inside a type closes no bracket: the key after the type is read.
    let out = derive(syn::parse_quote! {
        #[sensitive(bogus = Vec<Box<dyn Fn() -> u8>, A>, record_type = "")]
        struct Patient { #[sensitive(foo = M<(A, B), [u8; 2]>, renam = "n")] name: String }
    });
    assert_eq!(out.matches("compile_error").count(), 4, "{out}");
    assert!(out.contains("the record type is empty"), "{out}");
    // A value that is not a type (a comparison, a shift, one that a later
    // `>` would seem to close): the first `,` ends it, and the keys after
    // it are read.
    for value in [quote!(a < b), quote!(1 << 2)] {
        let out = derive(syn::parse_quote! {
            struct Patient { #[sensitive(foo = #value, pad = 0)] name: String }
        });
        assert_eq!(out.matches("compile_error").count(), 2, "{out}");
        assert!(out.contains("`pad` pads to a multiple"), "{out}");
    }
    let out = derive(syn::parse_quote! {
        struct Patient { #[sensitive(foo = a < b, pad = 0, bar = c > d)] name: String }
    });
    assert_eq!(out.matches("compile_error").count(), 3, "{out}");
    assert!(out.contains("`pad` pads to a multiple"), "{out}");
    // A qualified path inside a type: one value.
    let out = derive(syn::parse_quote! {
        #[sensitive(bogus = Vec<<T as Tr>::A, B>, record_type = "")]
        struct Patient { #[sensitive] name: String }
    });
    assert_eq!(out.matches("compile_error").count(), 2, "{out}");
    assert!(out.contains("the record type is empty"), "{out}");
}

#[test]
fn pad_seals_the_field_padded_and_its_bounds_are_checked() {
    let out = derive(syn::parse_quote! {
        struct Patient {
            #[sensitive(pad = 64, index)] referrer: Option<String>,
            #[sensitive] name: String,
        }
    });
    assert!(!out.contains("compile_error"), "{out}");
    assert_has(
        &out,
        quote!(fields.insert_padded("referrer", &self.referrer, 64usize)?;),
    );
    assert_has(&out, quote!(fields.insert("name", &self.name)?;));
    for (attr, message) in [
        (
            quote!(pad = 0),
            "`pad` pads to a multiple of 1 to 65536 bytes",
        ),
        (
            quote!(pad = 65537),
            "`pad` pads to a multiple of 1 to 65536 bytes",
        ),
        (quote!(pad = "64"), "expected integer literal"),
        (quote!(pad = 8, pad = 16), "duplicate `pad`"),
        (quote!(pad), "expected `=`"),
    ] {
        let out = derive(syn::parse_quote! {
            struct Patient { #[sensitive(#attr, rename = 5)] name: String }
        });
        // Its own error, and the key after it still read.
        assert_eq!(out.matches("compile_error").count(), 2, "{attr}: {out}");
        assert!(out.contains(message), "{attr}: {out}");
    }
    let out = derive(syn::parse_quote! {
        struct Patient { #[sensitive(pad = 65536)] name: String }
    });
    assert!(!out.contains("compile_error"), "{out}");
}

#[test]
fn a_plain_field_named_like_an_index_method_is_a_derive_error() {
    let out = derive(syn::parse_quote! {
        struct Person { ssn_eq: String, #[sensitive(index)] ssn: String }
    });
    assert!(out.contains("the filter method `ssn_eq`"), "{out}");
    let out = derive(syn::parse_quote! {
        #[sensitive(index(name = "ssn", fields = ["ssn", "born"]))]
        struct Person { #[sensitive] born: String, #[sensitive(index, rename = "x")] ssn: String }
    });
    assert!(out.contains("the filter method `ssn_eq`"), "{out}");
    // Different names: no error.
    let out = derive(syn::parse_quote! {
        struct Person { ssn: String, #[sensitive(index)] tax_id: String }
    });
    assert!(!out.contains("compile_error"), "{out}");
}

#[test]
fn a_bad_normalize_fields_or_index_value_is_reported_and_the_keys_after_it_read() {
    for (input, errors) in [
        (
            syn::parse_quote! {
                struct Patient { #[sensitive(index(normalize = 5, bitz = 1))] name: String }
            },
            2,
        ),
        (
            syn::parse_quote! {
                #[sensitive(index(name = "n", fields = "a", bogus = 1))]
                struct Patient { #[sensitive] a: String }
            },
            2,
        ),
        (
            syn::parse_quote! {
                struct Patient { #[sensitive(index = 1, bogus)] name: String }
            },
            2,
        ),
        // One error each, not a second one for what the bad key left out.
        (
            syn::parse_quote! {
                #[sensitive(index(name = 5, fields = ["a"]))]
                struct Patient { #[sensitive] a: String }
            },
            1,
        ),
        (
            syn::parse_quote! {
                #[sensitive(index(name = "ssn", fields = ["ssn", "born"]))]
                struct Person { #[sensitive] born: String, #[sensitive(index)] ssn: String }
            },
            1,
        ),
        // A name that would make a raw identifier: an error, not a panic.
        (
            syn::parse_quote! {
                #[sensitive(index(name = "r#x", fields = ["a"]))]
                struct Patient { #[sensitive] a: String }
            },
            1,
        ),
    ] {
        let input: DeriveInput = input;
        let out = derive(input);
        assert_eq!(out.matches("compile_error").count(), errors, "{out}");
    }
}
