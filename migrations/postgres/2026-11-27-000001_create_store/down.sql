DROP TABLE import_map;
DROP TABLE meta_index;
DROP TABLE records;
DROP TABLE policies;
DROP TABLE access_keys;
DROP TABLE key_heads;
DROP TABLE clients;
