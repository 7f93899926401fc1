// One Lambda execution environment: loads a function's bundle as the Node.js runtime does
// (`require` of the handler's file, CommonJS) in a worker thread whose process.env is the
// function's environment, then runs one invocation at a time as the parent asks.
// Plain CommonJS, so that it loads without the TypeScript loader the parent may run under.
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const Module = require('node:module');
const path = require('node:path');

const { bundleDir, handlerName, functionName, memoryMiB, region, accountId } = workerData;
const [moduleName, exportName] = splitHandler(handlerName);

let handler;
let initError;
try {
  const loaded = loadHandlerModule(path.join(bundleDir, moduleName));
  handler = loaded[exportName];
  if (typeof handler !== 'function') {
    initError = { name: 'Runtime.HandlerNotFound', message: `${handlerName} is undefined or not exported` };
  }
} catch (error) {
  initError = describe(error, 'Runtime.ImportModuleError');
}

parentPort.postMessage({ type: 'ready', initError });

parentPort.on('message', async (message) => {
  if (message.type !== 'invoke') return;
  if (initError) {
    parentPort.postMessage({ type: 'result', id: message.id, error: initError });
    return;
  }
  const context = {
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${region}:${accountId}:function:${functionName}`,
    memoryLimitInMB: String(memoryMiB),
    awsRequestId: message.requestId,
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, message.deadline - Date.now()),
    done() {},
    fail() {},
    succeed() {},
  };
  try {
    const result = await handler(message.event, context);
    parentPort.postMessage({ type: 'result', id: message.id, result });
  } catch (error) {
    parentPort.postMessage({ type: 'result', id: message.id, error: describe(error, 'Error') });
  }
});

// In Lambda the bundle's folder is the root of the file system that matters: with no
// package.json of its own saying "type": "module", a .js handler is CommonJS. Here the
// bundle may sit inside this project (cdk.out), whose package.json says "module", so plain
// require() would take the bundle for an ES module: compile it as CommonJS instead.
function loadHandlerModule(base) {
  const file = ['.js', '.cjs']
    .map((extension) => base + extension)
    .find((candidate) => fs.existsSync(candidate));
  if (!file || file.endsWith('.cjs') || bundleDeclaresModule()) return require(base);
  const loaded = new Module(file, module);
  loaded.filename = file;
  loaded.paths = Module._nodeModulePaths(path.dirname(file));
  loaded._compile(fs.readFileSync(file, 'utf8'), file);
  return loaded.exports;
}

function bundleDeclaresModule() {
  try {
    return JSON.parse(fs.readFileSync(path.join(bundleDir, 'package.json'), 'utf8')).type === 'module';
  } catch {
    return false;
  }
}

function splitHandler(name) {
  const dot = name.lastIndexOf('.');
  return [name.slice(0, dot), name.slice(dot + 1)];
}

function describe(error, fallbackName) {
  if (error instanceof Error)
    return { name: error.name || fallbackName, message: error.message, stack: error.stack };
  return { name: fallbackName, message: String(error) };
}
