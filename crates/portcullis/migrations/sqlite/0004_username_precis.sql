-- Usernames follow RFC 8265 (UsernameCaseMapped): username_key becomes the PRECIS key and
-- username_skeleton the UTS #39 confusable skeleton of that key, unique so that no two accounts
-- look alike. Neither can be computed in SQL: at start-up the store fills both for every row whose
-- skeleton is NULL (all rows after this migration) and leaves a row as it is when its new key or
-- skeleton belongs to another account, logging the collision (see src/store/usernames.rs).
ALTER TABLE users ADD COLUMN username_skeleton TEXT;
CREATE UNIQUE INDEX users_username_skeleton_key ON users(username_skeleton);
