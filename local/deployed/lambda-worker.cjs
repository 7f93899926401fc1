// One Lambda execution environment: loads a function's bundle as the Node.js runtime does
// (`require` of the handler's file, CommonJS) in a worker thread whose process.env is the
// function's environment, then runs one invocation at a time as the parent asks.
// Plain CommonJS, so that it loads without the TypeScript loader the parent may run under.
const { parentPort, workerData } = require('node:worker_threads');
const path = require('node:path');

const { bundleDir, handlerName, functionName, memoryMiB, region, accountId } = workerData;
const [moduleName, exportName] = splitHandler(handlerName);

let handler;
let initError;
try {
  const loaded = require(path.join(bundleDir, moduleName));
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

function splitHandler(name) {
  const dot = name.lastIndexOf('.');
  return [name.slice(0, dot), name.slice(dot + 1)];
}

function describe(error, fallbackName) {
  if (error instanceof Error)
    return { name: error.name || fallbackName, message: error.message, stack: error.stack };
  return { name: fallbackName, message: String(error) };
}
