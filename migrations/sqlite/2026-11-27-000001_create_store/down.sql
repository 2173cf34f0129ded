DROP TABLE record_meta;
DROP TABLE records;
DROP TABLE policies;
DROP TABLE access_keys;
DROP TABLE key_heads;
DROP TABLE clients;
