"""The workspace schema as an ordered list of migrations.

``PRAGMA user_version`` holds how many have been applied; opening a workspace
applies the rest in one transaction each, so an old file moves forward and a
new one is built the same way. Append new migrations at the end; never edit
one that has shipped.
"""

MIGRATIONS: list[str] = [
    # 1: runs, every LM call, the generation record, views, caches, locks.
    """
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL DEFAULT 'generate',      -- generate | import | translation
        config TEXT NOT NULL DEFAULT '{}',
        state TEXT NOT NULL DEFAULT 'new',          -- new | running | paused | done | failed
        status TEXT NOT NULL DEFAULT '',            -- why it is in that state, for people
        source_run_id INTEGER REFERENCES runs(id),
        language TEXT NOT NULL DEFAULT 'en',
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE TABLE lm_calls (
        id INTEGER PRIMARY KEY,
        run_id INTEGER REFERENCES runs(id),
        step TEXT NOT NULL,
        cache_key TEXT NOT NULL,
        model TEXT NOT NULL,
        prompt TEXT NOT NULL,
        params TEXT NOT NULL,
        text TEXT,
        finish_reason TEXT,
        tokens_in INTEGER NOT NULL DEFAULT 0,
        tokens_out INTEGER NOT NULL DEFAULT 0,
        latency_s REAL NOT NULL DEFAULT 0,
        error TEXT,                                 -- NULL when the call succeeded
        faults TEXT NOT NULL DEFAULT '[]',          -- transient faults survived before the answer
        created_at REAL NOT NULL
    );
    CREATE INDEX lm_calls_ok_key ON lm_calls(cache_key) WHERE error IS NULL;
    CREATE INDEX lm_calls_run ON lm_calls(run_id, step);
    CREATE TABLE prompts (
        id INTEGER PRIMARY KEY,
        run_id INTEGER NOT NULL REFERENCES runs(id),
        iteration INTEGER NOT NULL,
        slot INTEGER NOT NULL,
        in_context TEXT NOT NULL,                   -- JSON [{"text", "origin"}], in prompt order
        call_id INTEGER REFERENCES lm_calls(id),
        UNIQUE (run_id, iteration, slot)
    );
    CREATE TABLE iterations (
        run_id INTEGER NOT NULL REFERENCES runs(id),
        iteration INTEGER NOT NULL,
        completed_at REAL NOT NULL,
        PRIMARY KEY (run_id, iteration)
    );
    CREATE TABLE instructions (
        id INTEGER PRIMARY KEY,
        run_id INTEGER NOT NULL REFERENCES runs(id),
        seq INTEGER NOT NULL,                       -- order of arrival: the greedy filter's order
        text TEXT NOT NULL,
        origin TEXT NOT NULL,                       -- seed | machine | import | translation
        iteration INTEGER,
        prompt_id INTEGER REFERENCES prompts(id),
        source_id INTEGER REFERENCES instructions(id),
        external_id TEXT,
        name TEXT NOT NULL DEFAULT '',
        is_classification INTEGER,                  -- 1, 0, or NULL when unknown
        clf_call_id INTEGER REFERENCES lm_calls(id),
        inst_call_id INTEGER REFERENCES lm_calls(id),
        verdict TEXT NOT NULL DEFAULT 'keep',       -- keep | drop
        reason TEXT,
        detail TEXT NOT NULL DEFAULT '',
        max_rouge REAL,
        similar TEXT NOT NULL DEFAULT '[]',         -- JSON [[text, score], ...] most similar first
        UNIQUE (run_id, seq)
    );
    CREATE INDEX instructions_run_verdict ON instructions(run_id, verdict);
    CREATE TABLE instances (
        id INTEGER PRIMARY KEY,
        instruction_id INTEGER NOT NULL REFERENCES instructions(id),
        position INTEGER NOT NULL,
        input TEXT NOT NULL,
        output TEXT NOT NULL,
        verdict TEXT NOT NULL DEFAULT 'keep',
        reason TEXT,
        detail TEXT NOT NULL DEFAULT '',
        UNIQUE (instruction_id, position)
    );
    CREATE TABLE views (
        id INTEGER PRIMARY KEY,
        run_id INTEGER NOT NULL REFERENCES runs(id),
        name TEXT NOT NULL,
        settings TEXT NOT NULL,
        created_at REAL NOT NULL,
        UNIQUE (run_id, name)
    );
    CREATE TABLE kv_cache (
        namespace TEXT NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (namespace, key)
    ) WITHOUT ROWID;
    CREATE TABLE run_locks (
        run_id INTEGER PRIMARY KEY REFERENCES runs(id),
        owner TEXT NOT NULL,
        pid INTEGER NOT NULL,
        host TEXT NOT NULL,
        heartbeat REAL NOT NULL
    );
    """,
    # 2: response sets: other answers to a run's instances (a stronger model, a tuned model under
    # evaluation, a translation's answers), each kept beside the original output.
    """
    CREATE TABLE response_sets (
        id INTEGER PRIMARY KEY,
        run_id INTEGER NOT NULL REFERENCES runs(id),
        name TEXT NOT NULL,
        model TEXT NOT NULL DEFAULT '',
        kind TEXT NOT NULL DEFAULT 'answer',        -- answer | prediction (imported model outputs)
        config TEXT NOT NULL DEFAULT '{}',
        created_at REAL NOT NULL,
        UNIQUE (run_id, name)
    );
    CREATE TABLE responses (
        id INTEGER PRIMARY KEY,
        set_id INTEGER NOT NULL REFERENCES response_sets(id),
        instance_id INTEGER NOT NULL REFERENCES instances(id),
        text TEXT NOT NULL,
        call_id INTEGER REFERENCES lm_calls(id),
        finish_reason TEXT,
        created_at REAL NOT NULL,
        UNIQUE (set_id, instance_id)
    );
    CREATE INDEX responses_instance ON responses(instance_id);
    """,
    # 3: evaluation: people's and judges' answers to the four quality questions, people's A-D
    # ratings of responses, and a judge model's 1-10 scores (one response alone, or two side by side).
    """
    CREATE TABLE reviews (
        run_id INTEGER NOT NULL REFERENCES runs(id),
        instance_id INTEGER NOT NULL REFERENCES instances(id),
        rater TEXT NOT NULL,                        -- 'human' or 'judge:<model>'
        question INTEGER NOT NULL,                  -- 1..4, the paper's quality questions
        answer INTEGER NOT NULL,                    -- 1 yes, 0 no
        call_id INTEGER REFERENCES lm_calls(id),    -- the judge's call; NULL for people
        created_at REAL NOT NULL,
        PRIMARY KEY (instance_id, rater, question)
    );
    CREATE INDEX reviews_run ON reviews(run_id, rater);
    CREATE TABLE ratings (
        set_id INTEGER NOT NULL REFERENCES response_sets(id),
        instance_id INTEGER NOT NULL REFERENCES instances(id),
        rater TEXT NOT NULL,
        grade TEXT NOT NULL,                        -- A | B | C | D
        created_at REAL NOT NULL,
        PRIMARY KEY (set_id, instance_id, rater)
    );
    CREATE TABLE judgments (
        id INTEGER PRIMARY KEY,
        instance_id INTEGER NOT NULL REFERENCES instances(id),
        judge TEXT NOT NULL,                        -- the judge model's name
        template TEXT NOT NULL,                     -- hash of the judge prompt template
        set_a INTEGER NOT NULL REFERENCES response_sets(id),
        set_b INTEGER NOT NULL DEFAULT 0,           -- 0: set_a judged alone; else shown second
        score_a REAL,                               -- NULL when the answer held no readable score
        score_b REAL,
        call_id INTEGER REFERENCES lm_calls(id),
        created_at REAL NOT NULL,
        UNIQUE (instance_id, judge, template, set_a, set_b)
    );
    CREATE INDEX judgments_set ON judgments(set_a, judge);
    """,
    # 4: one writer per job that writes no run of its own (answering a response set):
    # the same pid/host/heartbeat rule as run_locks.
    """
    CREATE TABLE job_locks (
        name TEXT PRIMARY KEY,                      -- e.g. "response set 'gpt4' of run 'alpaca'"
        owner TEXT NOT NULL,
        pid INTEGER NOT NULL,
        host TEXT NOT NULL,
        heartbeat REAL NOT NULL
    );
    """,
    # 5: one table of named locks: a run's writer lock is the lock named "run <id>" (``Store.acquire_lock``)
    """
    ALTER TABLE job_locks RENAME TO locks;
    INSERT OR REPLACE INTO locks(name, owner, pid, host, heartbeat)
        SELECT 'run ' || run_id, owner, pid, host, heartbeat FROM run_locks;
    DROP TABLE run_locks;
    """,
    # 6: jobs sent to an OpenAI-style Batch API, stored before they are polled, so a process killed
    # while one is pending picks it up again instead of paying for its requests twice.
    """
    CREATE TABLE batches (
        id INTEGER PRIMARY KEY,
        batch_id TEXT NOT NULL UNIQUE,              -- the API's id, e.g. batch_abc123
        model TEXT NOT NULL,                        -- the LM's name (model and URL), as in lm_calls
        endpoint TEXT NOT NULL,                     -- /v1/completions | /v1/chat/completions
        keys_hash TEXT NOT NULL,                    -- sha256 of the requests' sorted cache keys
        n_requests INTEGER NOT NULL,
        state TEXT NOT NULL,                        -- the API's status, then collected | lost
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        error TEXT                                  -- why it failed or was lost, without secrets
    );
    CREATE INDEX batches_requests ON batches(model, keys_hash);
    """,
    # 7: the HHH comparison: two response sets' answers to one instance, shown blind as A and B,
    # judged better / tie / worse on helpful, honest and harmless, by people or a judge model.
    """
    CREATE TABLE hhh_judgements (
        run_id INTEGER NOT NULL REFERENCES runs(id),
        set_1 INTEGER NOT NULL REFERENCES response_sets(id),  -- the pair, lower set id first
        set_2 INTEGER NOT NULL REFERENCES response_sets(id),
        instance_id INTEGER NOT NULL REFERENCES instances(id),
        rater TEXT NOT NULL,                        -- 'human' or 'judge:<model>'
        criterion TEXT NOT NULL,                    -- helpful | honest | harmless
        verdict TEXT NOT NULL,                      -- better | tie | worse: answer A against answer B
        a_set INTEGER NOT NULL REFERENCES response_sets(id),  -- the set shown as answer A
        call_id INTEGER REFERENCES lm_calls(id),    -- the judge's call; NULL for people
        created_at REAL NOT NULL,
        PRIMARY KEY (set_1, set_2, instance_id, rater, criterion)
    );
    """,
]
