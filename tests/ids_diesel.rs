//! `RecordId` and `ClientId` as columns of an application's own diesel
//! models (issue 18, point 3): a PostgreSQL `uuid` (or `bytea`) and an
//! SQLite 16-byte `BLOB`, round-tripped through `#[derive(Queryable,
//! Insertable)]` models and filters; a stored value of another length is a
//! deserialization error, never a panic.

mod common;

use common::{each_backend, TestDb};
use diesel::prelude::*;
use strongroom::{Backend, Client, ClientId, Fields, Plain, RecordId};

/// The application's own table and model, declared for one backend's
/// column type (`Uuid` on PostgreSQL, `Binary` on SQLite).
macro_rules! patients_model {
    ($module:ident, $id_type:ident) => {
        mod $module {
            use strongroom::{ClientId, RecordId};

            diesel::table! {
                patients (id) {
                    id -> Integer,
                    name -> Text,
                    secret -> $id_type,
                    writer -> $id_type,
                    previous -> Nullable<$id_type>,
                }
            }

            #[derive(Debug, Clone, PartialEq, diesel::Queryable, diesel::Insertable)]
            #[diesel(table_name = patients)]
            pub struct Patient {
                pub id: i32,
                pub name: String,
                pub secret: RecordId,
                pub writer: ClientId,
                pub previous: Option<RecordId>,
            }
        }
    };
}

patients_model!(pg_uuid, Uuid);
patients_model!(pg_bytea, Binary);
patients_model!(sqlite_blob, Binary);

/// One value of the one id column `secret` as a query selects it (to read
/// values the model's table could not hold).
#[derive(Debug, QueryableByName)]
struct SecretAsUuid {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    #[allow(dead_code)]
    secret: RecordId,
}

#[derive(Debug, QueryableByName)]
struct SecretAsBinary {
    #[diesel(sql_type = diesel::sql_types::Binary)]
    #[allow(dead_code)]
    secret: RecordId,
}

/// A sensitive record in strongroom, and the id the primary row keeps.
fn sensitive_record(db: &TestDb) -> (Client, RecordId) {
    let store = db.store();
    let client = Client::open_or_create(db.profile("app"), &store).unwrap();
    let fields = Fields::new().with("diagnosis", "fine").unwrap();
    let meta = client.put("patient", &fields, &Plain::new()).unwrap();
    (client, meta.id)
}

fn sqlite_primary(db: &TestDb) -> SqliteConnection {
    let path = db.dir.path().join("primary.db");
    let mut conn = SqliteConnection::establish(path.to_str().unwrap()).unwrap();
    diesel::sql_query(
        "CREATE TABLE patients (id INTEGER PRIMARY KEY, name TEXT NOT NULL, \
         secret BLOB NOT NULL, writer BLOB NOT NULL, previous BLOB)",
    )
    .execute(&mut conn)
    .unwrap();
    conn
}

fn pg_primary(db: &TestDb, secret_type: &str) -> PgConnection {
    let mut conn = PgConnection::establish(&db.url).unwrap();
    diesel::sql_query(format!(
        "CREATE TABLE patients (id serial PRIMARY KEY, name TEXT NOT NULL, \
         secret {secret_type} NOT NULL, writer {secret_type} NOT NULL, previous {secret_type})"
    ))
    .execute(&mut conn)
    .unwrap();
    conn
}

#[test]
fn ids_round_trip_through_a_users_own_diesel_model() {
    each_backend("ids_round_trip_through_a_users_own_diesel_model", |db| {
        let (client, secret) = sensitive_record(db);
        let earlier = RecordId::random();
        match db.backend {
            Backend::Sqlite => {
                use sqlite_blob::{patients, Patient};
                let mut conn = sqlite_primary(db);
                let rows = vec![
                    Patient {
                        id: 1,
                        name: "Ada".into(),
                        secret,
                        writer: client.id(),
                        previous: Some(earlier),
                    },
                    Patient {
                        id: 2,
                        name: "Charles".into(),
                        secret: RecordId::random(),
                        writer: ClientId::random(),
                        previous: None,
                    },
                ];
                diesel::insert_into(patients::table)
                    .values(&rows)
                    .execute(&mut conn)
                    .unwrap();
                let found: Patient = patients::table
                    .filter(patients::secret.eq(secret))
                    .first(&mut conn)
                    .unwrap();
                assert_eq!(found, rows[0]);
                let all: Vec<Patient> =
                    patients::table.order(patients::id).load(&mut conn).unwrap();
                assert_eq!(all, rows);
                // Stored as the UUID's 16 bytes, as strongroom stores ids.
                let hex: String = diesel::dsl::sql::<diesel::sql_types::Text>(
                    "SELECT lower(hex(secret)) FROM patients WHERE id = 1",
                )
                .get_result(&mut conn)
                .unwrap();
                assert_eq!(hex, secret.as_uuid().simple().to_string());
            }
            _ => {
                use pg_uuid::{patients, Patient};
                let mut conn = pg_primary(db, "uuid");
                let row = Patient {
                    id: 1,
                    name: "Ada".into(),
                    secret,
                    writer: client.id(),
                    previous: Some(earlier),
                };
                diesel::insert_into(patients::table)
                    .values(&row)
                    .execute(&mut conn)
                    .unwrap();
                let found: Patient = patients::table
                    .filter(patients::secret.eq(secret))
                    .filter(patients::writer.eq(client.id()))
                    .first(&mut conn)
                    .unwrap();
                assert_eq!(found, row);
                // A real uuid column: its text is the id's text.
                let text: String = diesel::dsl::sql::<diesel::sql_types::Text>(
                    "SELECT secret::text FROM patients WHERE id = 1",
                )
                .get_result(&mut conn)
                .unwrap();
                assert_eq!(text, secret.to_string());
                diesel::sql_query("DROP TABLE patients")
                    .execute(&mut conn)
                    .unwrap();

                // A bytea column holding the 16 bytes works too.
                use pg_bytea::{patients as bytea_patients, Patient as BytePatient};
                let mut conn = pg_primary(db, "bytea");
                let row = BytePatient {
                    id: 1,
                    name: "Ada".into(),
                    secret,
                    writer: client.id(),
                    previous: None,
                };
                diesel::insert_into(bytea_patients::table)
                    .values(&row)
                    .execute(&mut conn)
                    .unwrap();
                let found: BytePatient = bytea_patients::table
                    .filter(bytea_patients::secret.eq(secret))
                    .first(&mut conn)
                    .unwrap();
                assert_eq!(found, row);
                diesel::sql_query("DROP TABLE patients")
                    .execute(&mut conn)
                    .unwrap();
            }
        }
        // The id read back from the primary database opens the record.
        let record = client.get(secret).unwrap();
        assert_eq!(record.field::<String>("diagnosis").unwrap(), "fine");
    });
}

/// Whether an error is diesel's deserialization error naming the length
/// (a model's load wraps it in the field's error, which names the field).
fn is_length_error(err: &diesel::result::Error) -> bool {
    matches!(err, diesel::result::Error::DeserializationError(e)
        if format!("{e:?}").contains("holds 15 bytes"))
}

#[test]
fn a_stored_id_of_the_wrong_length_is_an_error_not_a_panic() {
    each_backend(
        "a_stored_id_of_the_wrong_length_is_an_error_not_a_panic",
        |db| {
            let fifteen = "00112233445566778899aabbccddee";
            match db.backend {
                Backend::Sqlite => {
                    use sqlite_blob::{patients, Patient};
                    let mut conn = sqlite_primary(db);
                    diesel::sql_query(format!(
                        "INSERT INTO patients VALUES (1, 'Ada', x'{fifteen}', x'{fifteen}00', x'{fifteen}')"
                    ))
                    .execute(&mut conn)
                    .unwrap();
                    let err = patients::table.first::<Patient>(&mut conn).unwrap_err();
                    assert!(is_length_error(&err), "{err:?}");
                    // Text where bytes were expected: its length is wrong too.
                    let err =
                        diesel::sql_query("SELECT '0011223344556677-8899aabbccddeeff' AS secret")
                            .load::<SecretAsBinary>(&mut conn)
                            .unwrap_err();
                    assert!(
                        matches!(err, diesel::result::Error::DeserializationError(_)),
                        "{err:?}"
                    );
                    // NULL in a non-null id is diesel's own error.
                    let err = diesel::sql_query("SELECT NULL AS secret")
                        .load::<SecretAsBinary>(&mut conn)
                        .unwrap_err();
                    assert!(
                        matches!(err, diesel::result::Error::DeserializationError(_)),
                        "{err:?}"
                    );
                }
                _ => {
                    use pg_bytea::{patients, Patient};
                    let mut conn = pg_primary(db, "bytea");
                    diesel::sql_query(format!(
                        "INSERT INTO patients VALUES (1, 'Ada', '\\x{fifteen}', '\\x{fifteen}00', NULL)"
                    ))
                    .execute(&mut conn)
                    .unwrap();
                    let err = patients::table.first::<Patient>(&mut conn).unwrap_err();
                    assert!(is_length_error(&err), "{err:?}");
                    // 15 bytes arriving where a uuid column is declared.
                    let err = diesel::sql_query(format!("SELECT '\\x{fifteen}'::bytea AS secret"))
                        .load::<SecretAsUuid>(&mut conn)
                        .unwrap_err();
                    assert!(is_length_error(&err), "{err:?}");
                }
            }
        },
    );
}
