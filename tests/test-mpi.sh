#!/bin/sh
# test-mpi.sh CLANN MPI_BUILT [MPI_FAULT] - data-parallel training under mpirun (README
# "Training on several processes or machines"): N ranks match one process (final loss rel
# 1e-4), repeated runs with the same N are bitwise identical, a rank with bad data or different
# data is named and ends the job, a killed rank ends it, checkpoints resume across rank counts,
# virtual shards give one process's bits on any rank count dividing them, the overlapped
# exchange and the shared-memory sums give the bits of the flat exchange through MPI, batch
# normalization uses the global batch's statistics, feature columns (embeddings), sampled
# softmax and NCE match one process, and a rank failing inside a step with batch normalization
# across ranks ends every rank's fit (MPI_FAULT: tests/mpi-fault.c, the library API). Every
# mpirun runs under a timeout so that a hang fails instead of stalling.
set -u
clann=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
fault=${3:+$(cd "$(dirname "$3")" && pwd)/$(basename "$3")}
if [ "$2" != "true" ] || ! command -v mpirun > /dev/null; then
    if [ "${CLANN_TESTS_STRICT:-}" = 1 ]; then
        echo "MPI is not built or mpirun is missing: failing (CLANN_TESTS_STRICT=1)"; exit 1
    fi
    echo "MPI is not built or mpirun is missing: skipped"; exit 77
fi
# As root in containers: Open MPI's consent variables, and no single-copy shared memory
# (CMA needs ptrace rights a container often lacks).
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl_vader_single_copy_mechanism=none OMPI_MCA_btl=self,vader
export CLANN_DEVICE=cpu
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
ok() { echo "ok: $*"; }
mpi() { n=$1; shift; timeout 120 mpirun --oversubscribe -np "$n" "$@"; }

python3 - <<'PY'
import random
random.seed(7)
def write(path, rows, cols=6, bad_row=None):
    with open(path, "w") as f:
        f.write(",".join("x%d" % i for i in range(cols)) + ",y\n")
        for r in range(rows):
            v = [random.gauss(0, 1) for _ in range(cols)]
            y = 1 if v[0] - 0.5 * v[1] + v[2] * v[3] > 0 else 0
            cells = ["%.5f" % x for x in v] + [str(y)]
            if r == bad_row:
                cells[2] = "oops"
            f.write(",".join(cells) + "\n")
write("train.csv", 1000)
write("other.csv", 900)
write("bad.csv", 1000, bad_row=17)
# Feature columns: two numbers, a text column (an embedding) and a hashed one.
with open("feat.csv", "w") as f:
    f.write("x0,x1,city,shop,y\n")
    for r in range(1200):
        x0, x1 = random.gauss(0, 1), random.gauss(0, 1)
        c, s = random.randrange(60), random.randrange(300)
        y = 1 if x0 + 0.5 * x1 + (c % 7 - 3) * 0.4 + (s % 5 - 2) * 0.3 > 0 else 0
        f.write("%.5f,%.5f,c%d,s%d,%d\n" % (x0, x1, c, s, y))
# Many classes for sampled softmax and NCE: 200 clusters in 8 dimensions.
with open("many.csv", "w") as f:
    f.write(",".join("x%d" % i for i in range(8)) + ",label\n")
    centres = [[random.gauss(0, 1) for _ in range(8)] for _ in range(200)]
    for r in range(1500):
        c = random.randrange(200)
        f.write(",".join("%.4f" % (x + random.gauss(0, 0.3)) for x in centres[c]) + ",%d\n" % c)
PY
opts="--data train.csv --hidden 32,16 --dropout 0.1 --epochs 4 --batch 60 --lr 0.01 --quiet --json"
loss_of() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["train_loss"])' "$1"; }
# close_losses A B: the final losses A and B agree within 1e-4 relative (float reassociation;
# a NaN never does).
close_losses() {
    python3 -c 'import sys; a, b = map(float, sys.argv[1:3])
sys.exit(0 if abs(a - b) <= 1e-4 * abs(a) else 1)' "$1" "$2"
}

# Parity and determinism.
"$clann" train $opts --out one.st > one.json 2> /dev/null || fail "one process"
for n in 2 3 4; do
    for k in a b; do
        mpi $n "$clann" train $opts --out n$n$k.st > n$n$k.json 2> n$n$k.err || {
            fail "-np $n run $k"; cat n$n$k.err; }
    done
    if cmp -s n${n}a.st n${n}b.st; then ok "-np $n twice: bitwise identical models"
    else fail "-np $n twice: the models differ"; fi
    grep -q '"ranks": '$n n${n}a.json && ok "--json says ranks $n" || fail "no \"ranks\": $n"
    close_losses "$(loss_of one.json)" "$(loss_of n${n}a.json)" \
        && ok "-np $n matches one process (final loss rel 1e-4)" \
        || fail "-np $n loss $(loss_of n${n}a.json) vs one process $(loss_of one.json)"
done
grep -q '"ranks": 1' one.json && ok "one process: ranks 1" || fail "one process: no ranks 1"

# The overlapped exchange (buckets summed while the backward pass goes on, here 1 KiB ones:
# several per step) gives bitwise the model of the whole-buffer exchange it replaces, and the
# sums through MPI's data moves (CLANN_DIST_SHM=0, as across machines) those through the
# shared-memory windows of one machine, with and without the overlap.
for n in 2 3; do
    CLANN_DIST_OVERLAP=0 mpi $n "$clann" train $opts --out flat$n.st > /dev/null 2>&1 \
        || fail "-np $n without overlap"
    CLANN_DIST_BUCKET_KB=1 mpi $n "$clann" train $opts --out small$n.st > /dev/null 2>&1 \
        || fail "-np $n with 1 KiB buckets"
    cmp -s flat$n.st n${n}a.st && cmp -s flat$n.st small$n.st \
        && ok "-np $n: overlapped exchange (default and 1 KiB buckets) == CLANN_DIST_OVERLAP=0" \
        || fail "-np $n: the overlapped exchange changes the model"
    CLANN_DIST_SHM=0 CLANN_DIST_BUCKET_KB=1 mpi $n "$clann" train $opts --out moved$n.st \
        > /dev/null 2>&1 || fail "-np $n with CLANN_DIST_SHM=0"
    CLANN_DIST_SHM=0 CLANN_DIST_OVERLAP=0 mpi $n "$clann" train $opts --out movedflat$n.st \
        > /dev/null 2>&1 || fail "-np $n with CLANN_DIST_SHM=0 CLANN_DIST_OVERLAP=0"
    cmp -s flat$n.st moved$n.st && cmp -s flat$n.st movedflat$n.st \
        && ok "-np $n: shared-memory sums == MPI's data moves (CLANN_DIST_SHM=0)" \
        || fail "-np $n: the shared-memory sums change the model"
done

# An OpenCL device (PoCL here) on every rank: each bucket is read back without blocking into
# the shared segments; the same bits through MPI's data moves, one process's loss within 1e-4.
ocl=$("$clann" devices 2> /dev/null | awk '$1 ~ /^opencl:/ {print $1; exit}')
if [ -n "$ocl" ]; then
    cl_opts="$opts --device $ocl"
    "$clann" train $cl_opts --out cl1.st > cl1.json 2> /dev/null || fail "OpenCL: one process"
    CLANN_DIST_BUCKET_KB=1 mpi 2 "$clann" train $cl_opts --out cl2.st > cl2.json 2> cl2.err \
        || { fail "OpenCL: -np 2"; cat cl2.err; }
    CLANN_DIST_SHM=0 CLANN_DIST_BUCKET_KB=1 mpi 2 "$clann" train $cl_opts --out cl2m.st \
        > /dev/null 2>&1 || fail "OpenCL: -np 2 with CLANN_DIST_SHM=0"
    cmp -s cl2.st cl2m.st && ok "OpenCL $ocl: -np 2 shared-memory sums == MPI's data moves" \
        || fail "OpenCL: the shared-memory sums change the model"
    close_losses "$(loss_of cl1.json)" "$(loss_of cl2.json)" \
        && ok "OpenCL $ocl: -np 2 matches one process (final loss rel 1e-4)" \
        || fail "OpenCL: -np 2 loss $(loss_of cl2.json) vs one process $(loss_of cl1.json)"
    # One device per local rank: rank 0 on the CPU backend, rank 1 on the OpenCL device.
    mpi 2 "$clann" train $opts --device "cpu,$ocl" --out het.st > het.json 2> het.err \
        || { fail "--device cpu,$ocl -np 2"; cat het.err; }
    grep -q "local rank 1 takes '$ocl'" het.err && grep -q "local rank 0 takes 'cpu'" het.err \
        && close_losses "$(loss_of one.json)" "$(loss_of het.json)" \
        && ok "--device cpu,$ocl: a device per local rank, one process's loss within 1e-4" \
        || fail "--device cpu,$ocl: $(loss_of het.json) vs $(loss_of one.json)"
else
    echo "note: no OpenCL device: the OpenCL runs under mpirun are skipped"
fi

# parity NAME OPTS...: one process, then 2 and 3 ranks twice each: bitwise reruns and the
# final loss within 1e-4 of one process's.
parity() {
    name=$1; shift
    "$clann" train "$@" --out $name-1.st > $name-1.json 2> $name-1.err || {
        fail "$name: one process"; cat $name-1.err; }
    for n in 2 3; do
        for k in a b; do
            mpi $n "$clann" train "$@" --out $name-$n$k.st > $name-$n$k.json 2> $name.err || {
                fail "$name: -np $n run $k"; cat $name.err; }
        done
        if cmp -s $name-${n}a.st $name-${n}b.st; then ok "$name: -np $n twice, bitwise identical"
        else fail "$name: -np $n twice: the models differ"; fi
        close_losses "$(loss_of $name-1.json)" \
            "$(loss_of $name-${n}a.json)" \
            && ok "$name: -np $n matches one process ($(loss_of $name-${n}a.json))" \
            || fail "$name: -np $n loss $(loss_of $name-${n}a.json) vs $(loss_of $name-1.json)"
    done
}

# Embedding tables across ranks: every rank's rows merged by id (with global-norm clipping,
# which sees the merged rows), and a batch of 2 on 3 ranks (a rank with no rows).
feat="--data feat.csv --hash shop=500 --hidden 16 --dropout 0.1 --batch 64 --lr 0.01 --quiet --json"
parity features $feat --epochs 4 --clip-global-norm 0.5
head -n 201 feat.csv > feat-200.csv
mpi 3 "$clann" train $feat --data feat-200.csv --epochs 1 --batch 2 > fs3.json 2> fs.err \
    || { fail "features, batch 2 on 3 ranks"; cat fs.err; }
"$clann" train $feat --data feat-200.csv --epochs 1 --batch 2 > fs1.json 2> /dev/null \
    || fail "features, batch 2 alone"
close_losses "$(loss_of fs1.json)" "$(loss_of fs3.json)" \
    && ok "features: batch 2 on 3 ranks matches one process" \
    || fail "features: batch 2 on 3 ranks $(loss_of fs3.json) vs $(loss_of fs1.json)"

# Sampled softmax and NCE: every rank draws the global batch's candidates. The specs come
# from a full-softmax model's.
"$clann" train --data many.csv --task multiclass --hidden 32 --epochs 1 --quiet \
    --out many.st > /dev/null 2>&1 && "$clann" info many.st --spec > many.json 2> /dev/null \
    || fail "the many-class base model"
for loss in sampled_softmax_cross_entropy:uniform nce:log_uniform; do
    python3 -c '
import json, sys
s = json.load(open("many.json"))
s["loss"], s["sampler"] = sys.argv[1].split(":")
s["num_sampled"] = 16
json.dump(s, open(sys.argv[2], "w"))' $loss ${loss%%:*}.json
    parity ${loss%%:*} --spec ${loss%%:*}.json --data many.csv --epochs 3 --batch 50 --quiet --json
done

# A batch smaller than the ranks leaves a rank without rows: still one process's result.
"$clann" train --data train.csv --hidden 8 --epochs 1 --batch 2 --quiet --json --out s1.st \
    > s1.json 2> /dev/null || fail "batch 2 alone"
mpi 3 "$clann" train --data train.csv --hidden 8 --epochs 1 --batch 2 --quiet --json \
    --out s3.st > s3.json 2> /dev/null || fail "batch 2 on 3 ranks"
close_losses "$(loss_of s1.json)" "$(loss_of s3.json)" \
    && ok "batch 2 on 3 ranks matches one process" || fail "batch 2 on 3 ranks differs"

# Rank 1 with bad data: named, non-zero, no model file.
cat > per-rank.sh <<'SH'
#!/bin/sh
# per-rank.sh DATA_FOR_RANK_1 ARGS...: rank 1 trains on its own data, the others on train.csv.
d=train.csv; [ "$OMPI_COMM_WORLD_RANK" = 1 ] && d=$1; shift
exec "$CLANN" train --data "$d" "$@"
SH
chmod +x per-rank.sh
export CLANN="$clann"
t0=$(date +%s)
mpi 2 ./per-rank.sh bad.csv --hidden 8 --epochs 50 --quiet --out bad.st > /dev/null 2> bad.err
code=$?
if [ $code -ne 0 ] && [ $code -ne 124 ] && grep -q "rank 1: .*oops" bad.err && [ ! -e bad.st ]
then ok "bad data on rank 1: exit $code in $(( $(date +%s) - t0 ))s, named, no model file"
else fail "bad data on rank 1: exit $code"; cat bad.err; fi

# Rank 1 with other data: the start check names what differs.
mpi 2 ./per-rank.sh other.csv --hidden 8 --epochs 2 --quiet --out other.st > /dev/null 2> o.err
code=$?
if [ $code -ne 0 ] && [ $code -ne 124 ] && grep -q "rank 1 differs from rank 0 in training rows" o.err
then ok "different data on rank 1: exit $code, named"
else fail "different data on rank 1: exit $code"; cat o.err; fi

# A killed rank ends the job within seconds.
cat > kill-rank.sh <<'SH'
#!/bin/sh
[ "$OMPI_COMM_WORLD_RANK" = 1 ] && (sleep 2; kill -9 $$) &
exec "$CLANN" train --data train.csv --hidden 64,64 --epochs 100000 --batch 10 --quiet --out k.st
SH
chmod +x kill-rank.sh
t0=$(date +%s)
mpi 2 ./kill-rank.sh > /dev/null 2> kill.err
code=$?
if [ $code -ne 0 ] && [ $code -ne 124 ] && [ ! -e k.st ]
then ok "killed rank 1: exit $code in $(( $(date +%s) - t0 ))s"
else fail "killed rank 1: exit $code"; cat kill.err; fi

# Virtual shards: any rank count that divides them gives the bits of one process (here with
# dropout, the sums through shared memory and through MPI's data moves); others are refused.
shard_opts="$opts --shards 4"
"$clann" train $shard_opts --out sh1.st > /dev/null 2>&1 || fail "--shards 4: one process"
for n in 2 4; do
    mpi $n "$clann" train $shard_opts --out sh$n.st > /dev/null 2>&1 || fail "--shards 4 -np $n"
    CLANN_DIST_SHM=0 mpi $n "$clann" train $shard_opts --out sh${n}m.st > /dev/null 2>&1 \
        || fail "--shards 4 -np $n with CLANN_DIST_SHM=0"
    cmp -s sh1.st sh$n.st && cmp -s sh1.st sh${n}m.st \
        && ok "--shards 4: -np $n gives bitwise one process's model" \
        || fail "--shards 4: -np $n differs from one process"
done
mpi 3 "$clann" train $shard_opts --out sh3.st > sh3.out 2>&1
rc=$?
[ $rc -ne 0 ] && grep -q "4 virtual shards cannot be shared by 3 ranks" sh3.out && [ ! -e sh3.st ] \
    && ok "--shards 4 on 3 ranks: refused, named" || fail "--shards 4 on 3 ranks: rc $rc"

# Batch normalization: statistics over the global batch, so N ranks match one process and
# repeat bitwise; a rank without rows (batch 2 on 3 ranks) adds zeros to the sums.
bn="--data train.csv --hidden 32,16 --batchnorm --dropout 0.1 --epochs 3 --batch 60 --lr 0.01 --quiet --json"
"$clann" train $bn --out bn1.st > bn1.json 2> /dev/null || fail "batch norm alone"
for n in 2 3; do
    for k in a b; do
        mpi $n "$clann" train $bn --out bn$n$k.st > bn$n$k.json 2> bn.err || {
            fail "batch norm -np $n run $k"; cat bn.err; }
    done
    cmp -s bn${n}a.st bn${n}b.st && ok "batch norm -np $n twice: bitwise identical" \
        || fail "batch norm -np $n twice: the models differ"
    close_losses "$(loss_of bn1.json)" "$(loss_of bn${n}a.json)" \
        && ok "batch norm -np $n matches one process (final loss rel 1e-4)" \
        || fail "batch norm -np $n loss $(loss_of bn${n}a.json) vs one process $(loss_of bn1.json)"
done
"$clann" train --data train.csv --hidden 8 --batchnorm --epochs 1 --batch 2 --quiet --json \
    --out bs1.st > bs1.json 2> /dev/null || fail "batch norm, batch 2 alone"
mpi 3 "$clann" train --data train.csv --hidden 8 --batchnorm --epochs 1 --batch 2 --quiet \
    --json --out bs3.st > bs3.json 2> /dev/null || fail "batch norm, batch 2 on 3 ranks"
close_losses "$(loss_of bs1.json)" "$(loss_of bs3.json)" \
    && ok "batch norm, batch 2 on 3 ranks matches one process" \
    || fail "batch norm, batch 2 on 3 ranks: $(loss_of bs3.json) vs $(loss_of bs1.json)"

# A rank that fails inside a step with batch normalization across ranks (a planted OpenCL
# error in one of rank 1's ops in step 3, through clann_model_fit: tests/mpi-fault.c): every
# rank's fit returns within seconds, rank 1 with its reason, the others naming rank 1 (never
# themselves), wherever the failure falls among the step's sums over the ranks.
# fault_case NAME N OP CALL [BATCH]
fault_case() {
    name=$1 n=$2; shift 2
    rm -f mpi-fault.*
    t0=$(date +%s)
    timeout 60 mpirun --oversubscribe -np "$n" "$fault" "$@" > /dev/null 2> fault.err
    code=$? secs=$(( $(date +%s) - t0 )) named=0
    for r in $(seq 0 $((n - 1))); do
        [ $r = 1 ] && want="rank 1: status ERR_OPENCL: $1: planted OpenCL error" \
            || want="rank $r: status ERR_OPENCL: rank 1 failed while computing step 3"
        grep -q "^$want" mpi-fault.$r 2> /dev/null && named=$((named + 1))
    done
    if [ $code -ne 0 ] && [ $code -ne 124 ] && [ $named -eq $n ]
    then ok "bn fault $name: -np $n exit $code in ${secs}s, every rank names rank 1"
    else fail "bn fault $name: -np $n exit $code, $named of $n ranks right"
         cat fault.err mpi-fault.* 2> /dev/null; fi
}
if [ -n "$fault" ]; then
    rm -f mpi-fault.*
    mpi 2 "$fault" none 0 > /dev/null 2>&1 && grep -q "rank 0: ok" mpi-fault.0 \
        && grep -q "rank 1: ok" mpi-fault.1 && ok "bn fault: none planted, both ranks train" \
        || fail "bn fault: a run without a fault failed"
    fault_case "before any sum (the batch's upload)" 2 upload 1
    fault_case "between the forward sums" 2 batchnorm_sums 2
    fault_case "in the backward pass, after 5 sums" 2 batchnorm_backward 2
    CLANN_DIST_BUCKET_KB=1 fault_case "backward, a bucket in flight" 2 batchnorm_backward 2
    CLANN_DIST_SHM=0 CLANN_DIST_BUCKET_KB=1 fault_case "backward, a bucket in flight, MPI's moves" \
        2 batchnorm_backward 2
    fault_case "after the last sum" 2 batchnorm_dx 2
    CLANN_DIST_OVERLAP=0 fault_case "first forward op, whole-buffer exchange" 2 batchnorm_sums 1
    fault_case "before the 3rd sum, rank 0 without rows" 3 batchnorm_sums 3 2
    fault_case "backward, 3 ranks" 3 batchnorm_backward 1
else
    fail "tests/mpi-fault was not built"
fi

# Checkpoints resume across rank counts: 2 epochs on 3 ranks + 2 alone == 4 epochs on 3 ranks.
ck="--data train.csv --hidden 16 --batch 60 --quiet --json"
mpi 3 "$clann" train $ck --epochs 2 --checkpoint run.ckpt --out half.st > /dev/null 2>&1 \
    || fail "checkpoint on 3 ranks"
"$clann" train --resume run.ckpt --data train.csv --batch 60 --quiet --json --epochs 4 \
    --out resumed.st > resumed.json 2> /dev/null || fail "resume alone"
mpi 3 "$clann" train $ck --epochs 4 --out full.st > full.json 2> /dev/null \
    || fail "4 epochs on 3 ranks"
close_losses "$(loss_of full.json)" "$(loss_of resumed.json)" \
    && ok "3-rank checkpoint resumed alone matches 4 epochs on 3 ranks" \
    || fail "resume across rank counts: $(loss_of resumed.json) vs $(loss_of full.json)"

# A checkpoint written by 2 ranks with embedding tables resumes alone: 2 epochs on 2 ranks + 2
# alone == 4 epochs on 2 ranks.
mpi 2 "$clann" train $feat --epochs 2 --checkpoint emb.ckpt --out eh.st > /dev/null 2>&1 \
    || fail "features: checkpoint on 2 ranks"
"$clann" train --resume emb.ckpt --data feat.csv --batch 64 --quiet --json --epochs 4 \
    --out er.st > er.json 2> er.err || { fail "features: resume alone"; cat er.err; }
mpi 2 "$clann" train $feat --epochs 4 --out ef.st > ef.json 2> /dev/null \
    || fail "features: 4 epochs on 2 ranks"
close_losses "$(loss_of ef.json)" "$(loss_of er.json)" \
    && ok "features: 2-rank checkpoint resumed alone matches 4 epochs on 2 ranks" \
    || fail "features: resume across rank counts: $(loss_of er.json) vs $(loss_of ef.json)"

[ $failures -eq 0 ] || { echo "$failures failure(s)"; exit 1; }
