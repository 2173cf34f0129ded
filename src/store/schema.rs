//! Diesel's view of the tables (the migrations are the truth). Ids are
//! [`Uuid`]: PostgreSQL `uuid`, SQLite 16-byte `BLOB`.
#![allow(missing_docs)]

diesel::table! {
    use diesel::sql_types::*;
    use crate::store::sql_id::Uuid;

    clients (client_id) {
        client_id -> Uuid,
        name -> Nullable<Text>,
        public_key -> Binary,
        signing_key -> Binary,
        created_at -> BigInt,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::store::sql_id::Uuid;

    key_heads (writer_id, record_type) {
        writer_id -> Uuid,
        record_type -> Text,
        current_version -> Integer,
        updated_at -> BigInt,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::store::sql_id::Uuid;

    access_keys (writer_id, record_type, key_version, reader_id) {
        writer_id -> Uuid,
        record_type -> Text,
        key_version -> Integer,
        reader_id -> Uuid,
        wrapper_id -> Uuid,
        wrapped_key -> Binary,
        created_at -> BigInt,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::store::sql_id::Uuid;

    policies (writer_id, record_type, reader_id, kind) {
        writer_id -> Uuid,
        record_type -> Text,
        reader_id -> Uuid,
        kind -> Text,
        granted_by -> Uuid,
        via -> Nullable<Uuid>,
        reader_key -> Binary,
        key_version -> Integer,
        signature -> Binary,
        created_at -> BigInt,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::store::sql_id::Uuid;

    records (record_id) {
        record_id -> Uuid,
        writer_id -> Uuid,
        record_type -> Text,
        version -> BigInt,
        plain -> Text,
        sealed_fields -> Binary,
        key_version -> Integer,
        batch_id -> Uuid,
        batch_index -> Integer,
        created_at -> BigInt,
        updated_at -> BigInt,
        file_head -> Nullable<Binary>,
        blind_indexes -> Nullable<Binary>,
        index_version -> Nullable<Integer>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::store::sql_id::Uuid;

    record_batches (batch_id) {
        batch_id -> Uuid,
        writer_id -> Uuid,
        digests -> Binary,
        signature -> Binary,
        created_at -> BigInt,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::store::sql_id::Uuid;

    meta_index (tag, created_at, record_id) {
        tag -> BigInt,
        created_at -> BigInt,
        record_id -> Uuid,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::store::sql_id::Uuid;

    database_identity (singleton) {
        singleton -> Integer,
        database_id -> Uuid,
        created_at -> BigInt,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::store::sql_id::Uuid;

    import_map (source, source_id) {
        source -> Text,
        source_id -> Text,
        record_id -> Uuid,
        imported_at -> BigInt,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::store::sql_id::Uuid;

    file_chunks (record_id, version, seq) {
        record_id -> Uuid,
        version -> BigInt,
        seq -> BigInt,
        chunk -> Binary,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::store::sql_id::Uuid;

    blind_index_values (record_id, index_name) {
        record_id -> Uuid,
        index_name -> Text,
        record_type -> Text,
        value -> Binary,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::store::sql_id::Uuid;

    blind_index_versions (writer_id, record_type, index_name, index_version) {
        writer_id -> Uuid,
        record_type -> Text,
        index_name -> Text,
        index_version -> Integer,
        spec -> Binary,
    }
}

diesel::joinable!(meta_index -> records (record_id));

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
    file_chunks,
    blind_index_values,
    blind_index_versions,
);
