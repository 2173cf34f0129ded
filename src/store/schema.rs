//! Diesel's view of the tables (the migrations are the truth).
#![allow(missing_docs)]

diesel::table! {
    clients (client_id) {
        client_id -> Text,
        name -> Nullable<Text>,
        public_key -> Text,
        signing_key -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    key_heads (writer_id, record_type) {
        writer_id -> Text,
        record_type -> Text,
        current_version -> Integer,
        updated_at -> BigInt,
    }
}

diesel::table! {
    access_keys (writer_id, record_type, key_version, reader_id) {
        writer_id -> Text,
        record_type -> Text,
        key_version -> Integer,
        reader_id -> Text,
        wrapper_id -> Text,
        eak -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    policies (writer_id, record_type, reader_id, kind) {
        writer_id -> Text,
        record_type -> Text,
        reader_id -> Text,
        kind -> Text,
        granted_by -> Text,
        via -> Nullable<Text>,
        reader_key -> Text,
        key_version -> Integer,
        signature -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    records (record_id) {
        record_id -> Text,
        writer_id -> Text,
        record_type -> Text,
        version -> BigInt,
        plain -> Text,
        data -> Text,
        key_version -> Integer,
        batch_id -> Text,
        batch_index -> Integer,
        created_at -> BigInt,
        updated_at -> BigInt,
    }
}

diesel::table! {
    record_batches (batch_id) {
        batch_id -> Text,
        writer_id -> Text,
        digests -> Text,
        signature -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    meta_index (tag, record_id) {
        tag -> BigInt,
        record_id -> Text,
    }
}
diesel::table! {
    database_identity (singleton) {
        singleton -> Integer,
        database_id -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    import_map (source, source_id) {
        source -> Text,
        source_id -> Text,
        record_id -> Text,
        imported_at -> BigInt,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    database_identity,
    import_map,
    clients,
    key_heads,
    access_keys,
    policies,
    records,
    record_batches,
    meta_index,
);
