// The e2e specs' test image: a static helper imported into the test node by test/e2e/toolbox/image.
module lading.local/e2e/toolbox

go 1.24.0
